package dev.livemig.qmp;

import dev.livemig.testing.Await;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;

import static org.junit.jupiter.api.Assertions.*;

/** The bounded queue between a session's producers and its writer thread. */
class OutboxTest {

    /** Collects what is written, a few bytes per write at most, so that lines are written in pieces. */
    private static final class Sink implements WritableByteChannel {
        private final ByteArrayOutputStream written = new ByteArrayOutputStream();
        private final Random random;

        Sink(Random random) {
            this.random = random;
        }

        @Override
        public synchronized int write(ByteBuffer src) {
            int n = Math.min(src.remaining(), 1 + random.nextInt(16));
            byte[] b = new byte[n];
            src.get(b);
            written.write(b, 0, n);
            return n;
        }

        synchronized List<String> lines() {
            String all = written.toString(StandardCharsets.UTF_8);
            return all.isEmpty() ? List.of() : Arrays.asList(all.split("\n"));
        }

        @Override
        public boolean isOpen() {
            return true;
        }

        @Override
        public void close() {
        }
    }

    private static byte[] line(String s) {
        return (s + "\n").getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void anEmptyOutboxTakesAnyLineAndAFullOneRefusesTheNext() {
        var outbox = new Outbox(10);
        assertEquals(Outbox.Offer.QUEUED, outbox.offer(line("x".repeat(50))), "one line always fits an empty outbox");
        assertEquals(Outbox.Offer.FULL, outbox.offer(line("y")));
        assertEquals(51, outbox.pendingBytes());
        outbox.discard();
        assertEquals(0, outbox.pendingBytes(), "what a dropped client did not read is let go");
        assertEquals(Outbox.Offer.ENDED, outbox.offer(line("z")));
    }

    @Test
    void whatIsQueuedBeforeTheEndIsWrittenInOrderAndTheWriterStops() throws Exception {
        var outbox = new Outbox(1 << 20);
        for (int i = 0; i < 100; i++) {
            assertEquals(Outbox.Offer.QUEUED, outbox.offer(line("m" + i)));
        }
        outbox.end();
        assertEquals(Outbox.Offer.ENDED, outbox.offer(line("late")));
        var sink = new Sink(new Random(1));
        outbox.drainTo(sink);
        assertEquals(100, sink.lines().size());
        assertEquals("m0", sink.lines().getFirst());
        assertEquals("m99", sink.lines().getLast());
        assertEquals(0, outbox.pendingBytes());
    }

    /**
     * Producers offer while another thread ends the outbox, in random interleavings: every line accepted is
     * written, in each producer's order; every line refused is not; the writer always stops. (The outbox this
     * replaced checked its size and offered without a lock: a line could land behind the end and be lost, or
     * take the end's slot and hold the session's flush for its whole timeout.)
     */
    @Property(tries = 200)
    void aLineOfferedWhileTheOutboxEndsIsWrittenOrRefusedNeverLost(@ForAll long seed) throws Exception {
        var random = new Random(seed);
        var outbox = new Outbox(1 << 20);
        var sink = new Sink(new Random(seed));
        Thread writer = Thread.ofPlatform().name("outbox-writer").start(() -> {
            try {
                outbox.drainTo(sink);
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
        int producers = 1 + random.nextInt(4);
        int perProducer = 1 + random.nextInt(200);
        int endAfter = random.nextInt(producers * perProducer + 1);
        var start = new CountDownLatch(1);
        List<List<Outbox.Offer>> results = new ArrayList<>();
        List<Thread> threads = new ArrayList<>();
        for (int p = 0; p < producers; p++) {
            List<Outbox.Offer> mine = new ArrayList<>();
            results.add(mine);
            int id = p;
            long pause = random.nextLong();
            threads.add(Thread.ofPlatform().start(() -> {
                var r = new Random(pause);
                awaitQuietly(start);
                for (int i = 0; i < perProducer; i++) {
                    mine.add(outbox.offer(line("p" + id + "-" + i)));
                    if (r.nextInt(8) == 0) {
                        Thread.yield();
                    }
                }
            }));
        }
        threads.add(Thread.ofPlatform().start(() -> {
            awaitQuietly(start);
            for (int i = 0; i < endAfter; i++) {
                Thread.onSpinWait();
            }
            outbox.end();
        }));
        start.countDown();
        for (Thread t : threads) {
            t.join();
        }
        writer.join(Await.DEADLINE);
        assertFalse(writer.isAlive(), "the writer stops once the outbox has ended and is empty");

        List<String> written = sink.lines();
        for (int p = 0; p < producers; p++) {
            List<String> accepted = new ArrayList<>();
            for (int i = 0; i < perProducer; i++) {
                Outbox.Offer o = results.get(p).get(i);
                assertNotEquals(Outbox.Offer.FULL, o);
                if (o == Outbox.Offer.QUEUED) {
                    accepted.add("p" + p + "-" + i);
                } else {
                    assertTrue(results.get(p).subList(i, perProducer).stream().allMatch(x -> x == Outbox.Offer.ENDED),
                            "once ended, an outbox takes nothing more");
                }
            }
            String prefix = "p" + p + "-";
            assertEquals(accepted, written.stream().filter(l -> l.startsWith(prefix)).toList(),
                    "every accepted line is written, in order, and no refused one");
        }
        assertEquals(0, outbox.pendingBytes());
    }

    private static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
