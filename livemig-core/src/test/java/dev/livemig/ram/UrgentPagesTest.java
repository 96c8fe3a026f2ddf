package dev.livemig.ram;

import dev.livemig.machine.RamBlock;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import dev.livemig.wire.format.ReturnPathMessage.ReqPagesId;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * postcopy-preempt at the source: a request is served by the thread that reads it from the return path, on the
 * preempt channel, while the migration thread sweeps the main stream (as QEMU since 8.1); every page still goes
 * exactly once.
 */
class UrgentPagesTest {
    private static final int PAGE = RamBlock.TARGET_PAGE_SIZE;
    private static final int PAGES = 4096;

    @Test
    void requestsServedByTheReaderAndTheSweepTogetherSendEveryPageOnce() throws Exception {
        try (Arena arena = Arena.ofShared()) {
            RamBlock block = RamBlock.anonymous(arena, "pc.ram", (long) PAGES * PAGE);
            for (int p = 0; p < PAGES; p++) {
                block.memory().set(ValueLayout.JAVA_INT_UNALIGNED, (long) p * PAGE, p + 1); // no zero page
            }
            var requests = new PageRequests(List.of(block));
            var saver = new RamSaver(List.of(block), new RamCounters());
            saver.postcopyRequests(requests);
            saver.setup(StreamWriter.inMemory());
            saver.startPostcopy();
            var preempt = StreamWriter.inMemory();
            saver.preemptTo(preempt);

            var rnd = new SplittableRandom(7);
            Thread reader = Thread.ofPlatform().start(() -> {
                try {
                    for (int i = 0; i < 600; i++) {
                        long page = rnd.nextLong(PAGES);
                        requests.add(new ReqPagesId(page * PAGE, PAGE, "pc.ram"));
                    }
                } catch (MigrationException e) {
                    throw new AssertionError(e);
                }
            });
            var main = StreamWriter.inMemory();
            while (!saver.iterate(main, 64L * PAGE)) {
                Thread.onSpinWait(); // small parts: the reader's pages land between the sweep's
            }
            reader.join();
            saver.complete(main); // what a request took after the last part's check is not lost either

            Map<Long, Integer> sent = new HashMap<>();
            int onPreempt = count(StreamReader.of(preempt.toByteArray()), block, sent, false);
            count(StreamReader.of(main.toByteArray()), block, sent, true);
            for (long p = 0; p < PAGES; p++) {
                assertEquals(1, sent.getOrDefault(p, 0), "page " + p + " sent once");
            }
            assertTrue(onPreempt > 0, "some requested pages were still due and went on the preempt channel");
            assertEquals(600, requests.received());
            assertFalse(requests.waiting(), "nothing was left for the migration thread to serve");
        }
    }

    @Test
    void withoutAChannelTheReaderQueuesTheRequestForTheMigrationThread() throws Exception {
        try (Arena arena = Arena.ofShared()) {
            RamBlock block = RamBlock.anonymous(arena, "pc.ram", 16L * PAGE);
            var requests = new PageRequests(List.of(block));
            var saver = new RamSaver(List.of(block), new RamCounters());
            saver.postcopyRequests(requests);
            saver.setup(StreamWriter.inMemory());
            saver.startPostcopy();
            saver.preemptTo(StreamWriter.inMemory());
            saver.preemptTo(null); // a cut link: the next one is not there yet
            requests.add(new ReqPagesId(3L * PAGE, PAGE, "pc.ram"));
            assertEquals(new PageRequests.Request(0, 3, 1), requests.poll());
        }
    }

    /** Counts the pages of RAM records until EOS (or the end of the bytes), checking each page's content. */
    private static int count(StreamReader in, RamBlock block, Map<Long, Integer> sent, boolean framedUntilEos) throws MigrationException {
        var records = new RamRecords();
        byte[] data = new byte[PAGE];
        int pages = 0;
        while (!in.atEnd()) {
            RamRecord r = records.next(in, RamBlockList.Admission.ANY, RamBlockList.EntryReader.NONE);
            switch (r) {
                case RamRecord.Page p -> {
                    in.readFully(java.lang.foreign.MemorySegment.ofArray(data));
                    long page = p.offset() / PAGE;
                    assertEquals(page + 1, java.nio.ByteBuffer.wrap(data).order(java.nio.ByteOrder.nativeOrder()).getInt(0));
                    sent.merge(page, 1, Integer::sum);
                    pages++;
                }
                case RamRecord.End end -> {
                    if (!framedUntilEos) {
                        fail("EOS on the preempt channel in the current form");
                    }
                }
                default -> fail("unexpected record " + r);
            }
        }
        return pages;
    }
}
