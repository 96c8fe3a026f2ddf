package dev.livemig.multifd;

import dev.livemig.machine.RamBlock;
import dev.livemig.transport.IncomingListener;
import dev.livemig.transport.MigrationChannel;
import dev.livemig.transport.MigrationUri;
import dev.livemig.transport.Transports;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamWriter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The destination's multifd channels over real sockets: pages land, SYNC holds them, errors fail the sync. */
class MultifdReceiverTest {
    private final Arena arena = Arena.ofShared();
    private final RamBlock ram = RamBlock.anonymous(arena, "pc.ram", 64 << 12);
    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : open.reversed()) {
            c.close();
        }
        arena.close();
    }

    /** A source's channel, which has sent its initial packet, and the destination's end of it. */
    private record Pair(StreamWriter out, MigrationChannel in) { }

    /**
     * Connects a channel that opens with {@code initial}; the listener hands the connection over only once its
     * first bytes arrived (the handshake gate), as a real source sends them at once.
     */
    private Pair pair(MultifdPacket.Initial initial) throws MigrationException {
        IncomingListener l = Transports.listen(MigrationUri.parse("tcp:127.0.0.1:0"));
        open.add(l);
        MigrationChannel out = Transports.connect(l.address());
        open.add(out::close);
        var w = new StreamWriter(out);
        initial.write(w);
        w.flush();
        return new Pair(w, l.accept());
    }

    private static MemorySegment filled(int value) {
        return MemorySegment.ofArray(new byte[4096]).fill((byte) value);
    }

    @Test
    void pagesFromEveryChannelAreInMemoryWhenTheSyncReturns() throws Exception {
        try (var receiver = new MultifdReceiver(2, "none", List.of(ram))) {
            List<StreamWriter> writers = new ArrayList<>();
            for (int id = 0; id < 2; id++) {
                Pair p = pair(new MultifdPacket.Initial(new byte[16], id));
                receiver.add(p.in());
                writers.add(p.out());
            }
            for (int id = 0; id < 2; id++) {
                var w = writers.get(id);
                long[] offsets = {(long) id << 12, (long) (id + 10) << 12};
                new MultifdPacket.Ram(MultifdPacket.FLAG_SYNC, 2, 0, id, "pc.ram", offsets).write(w);
                w.copy(filled(id + 1)).copy(filled(id + 11));
                w.flush();
            }
            receiver.sync();
            assertEquals(-1, ram.page(0).mismatch(filled(1)));
            assertEquals(-1, ram.page(10 << 12).mismatch(filled(11)));
            assertEquals(-1, ram.page(1 << 12).mismatch(filled(2)));
            assertEquals(-1, ram.page(11 << 12).mismatch(filled(12)));
            // a second round after the release: the channels go on
            for (int id = 0; id < 2; id++) {
                var w = writers.get(id);
                new MultifdPacket.Ram(0, 1, 0, 9, "pc.ram", new long[]{(long) (20 + id) << 12}).write(w);
                w.copy(filled(0x40 + id));
                new MultifdPacket.Ram(MultifdPacket.FLAG_SYNC, 0, 0, 10, "", new long[0]).write(w);
                w.flush();
            }
            receiver.sync();
            assertEquals(-1, ram.page(21 << 12).mismatch(filled(0x41)));
        }
    }

    @Test
    void zeroPagesInsideAPacketClearWhatThePagesHeldAndSyncPacketsMayLeavePagesAllocZero() throws Exception {
        ram.page(7 << 12).fill((byte) 0x5a); // held data before the migration
        try (var receiver = new MultifdReceiver(1, "none", List.of(ram))) {
            Pair p = pair(new MultifdPacket.Initial(new byte[16], 0));
            receiver.add(p.in());
            var w = p.out();
            // current QEMU: one normal page, then two zero pages (offsets after the normal ones)
            new MultifdPacket.Ram(0, 1, 2, 0, 1, "pc.ram", new long[]{5L << 12, 7L << 12, 8L << 12}).write(w);
            w.copy(filled(0x33));
            // and its SYNC packet: the header cleared, pages_alloc 0 too, yet the full 1344 bytes long
            byte[] sync = new byte[MultifdPacket.RAM_HEADER_SIZE];
            java.nio.ByteBuffer.wrap(sync).putInt(MultifdPacket.MAGIC).putInt(MultifdPacket.VERSION).putInt(MultifdPacket.FLAG_SYNC);
            w.bytes(sync);
            new MultifdPacket.Ram(0, 1, 0, 2, "pc.ram", new long[]{9L << 12}).write(w); // after it: still in step
            w.copy(filled(0x44));
            w.bytes(sync);
            w.flush();
            receiver.sync();
            assertEquals(-1, ram.page(5 << 12).mismatch(filled(0x33)));
            assertEquals(-1, ram.page(7 << 12).mismatch(filled(0)), "a zero page clears what the page held");
            assertEquals(-1, ram.page(8 << 12).mismatch(filled(0)));
            receiver.sync();
            assertEquals(-1, ram.page(9 << 12).mismatch(filled(0x44)), "the packet after a short-alloc SYNC is read whole");
            receiver.checkNothingAfterLastSync();
        }
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"none", "zlib", "zstd"})
    void aSendersZeroPagesTravelInsideItsPacketsAndClearWhatTheDestinationHeld(String compression) throws Exception {
        try (Arena sourceArena = Arena.ofShared()) { // the channel threads read it
            RamBlock source = RamBlock.anonymous(sourceArena, "pc.ram", 64 << 12);
            for (int p = 0; p < 10; p++) {
                source.page((long) p << 12).fill((byte) (p + 1));
            }
            for (int p = 10; p < 20; p++) {
                ram.page((long) p << 12).fill((byte) 0x5a); // the destination's old data where the source's pages are zero
            }
            IncomingListener l = Transports.listen(MigrationUri.parse("tcp:127.0.0.1:0"));
            open.add(l);
            List<MigrationChannel> connections = List.of(Transports.connect(l.address()), Transports.connect(l.address()));
            try (var sender = new MultifdSender(connections, new MultifdSender.Compression(compression, 1));
                 var receiver = new MultifdReceiver(2, compression, List.of(ram))) {
                receiver.add(l.accept());
                receiver.add(l.accept());
                for (int p = 0; p < 20; p++) { // normal and zero pages mixed, as the saver finds them
                    if (p < 10) {
                        sender.queue(source, (long) p << 12);
                    } else {
                        sender.queueZero(source, (long) p << 12);
                    }
                }
                sender.sync();
                receiver.sync();
                assertEquals(-1, ram.memory().asSlice(0, 20 << 12).mismatch(source.memory().asSlice(0, 20 << 12)));
                assertEquals((10 << 12) + 3 * MultifdPacket.RAM_HEADER_SIZE, sender.bytesQueued(),
                        "the zero pages cost no data: one packet of 20 pages, then a SYNC on each of the two channels");
            }
        }
    }

    @Test
    void pagesPlacedAfterTheLastSyncPointFailTheLoadInsteadOfCompletingIt() throws Exception {
        try (var receiver = new MultifdReceiver(1, "none", List.of(ram))) {
            Pair p = pair(new MultifdPacket.Initial(new byte[16], 0));
            receiver.add(p.in());
            var w = p.out();
            new MultifdPacket.Ram(MultifdPacket.FLAG_SYNC, 0, 0, 1, "", new long[0]).write(w);
            w.flush();
            receiver.sync();
            receiver.checkNothingAfterLastSync();
            // a page with no sync point after it, as from a source that speaks the other dialect
            new MultifdPacket.Ram(0, 1, 0, 2, "pc.ram", new long[]{3L << 12}).write(w);
            w.copy(filled(0x21));
            w.flush();
            long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
            MigrationException e = null;
            while (e == null) { // the channel's thread places it whenever it runs
                try {
                    receiver.checkNothingAfterLastSync();
                    assertTrue(System.nanoTime() < deadline, "the page never counted as placed");
                    Thread.sleep(1);
                } catch (MigrationException thrown) {
                    e = thrown;
                }
            }
            assertTrue(e.getMessage().contains("channel 0 placed 1 pages after the stream's last sync point"), e.getMessage());
            assertEquals(-1, ram.page(3 << 12).mismatch(filled(0x21)));
        }
    }

    @Test
    void aBadChannelFailsTheSyncWithItsReason() throws Exception {
        try (var receiver = new MultifdReceiver(2, "none", List.of(ram))) {
            receiver.add(pair(new MultifdPacket.Initial(new byte[16], 0)).in());
            receiver.add(pair(new MultifdPacket.Initial(new byte[16], 0)).in()); // the same id again
            var e = assertThrows(MigrationException.class, receiver::sync);
            assertTrue(e.getMessage().contains("channel id 0 connected twice"), e.getMessage());
        }
        try (var receiver = new MultifdReceiver(1, "zlib", List.of(ram))) {
            Pair p = pair(new MultifdPacket.Initial(new byte[16], 0));
            receiver.add(p.in());
            var w = p.out();
            new MultifdPacket.Ram(MultifdPacket.FLAG_SYNC, 1, 0, 1, "pc.ram", new long[]{0}).write(w); // no zlib flag
            w.flush();
            var e = assertThrows(MigrationException.class, receiver::sync);
            assertTrue(e.getMessage().contains("compression flags 0x0, expected 0x2"), e.getMessage());
        }
    }

    @Test
    void aChannelThatNeverConnectsFailsTheSyncInsteadOfWaitingForever() throws Exception {
        try (var receiver = new MultifdReceiver(2, "none", List.of(ram), java.time.Duration.ofMillis(300))) {
            Pair p = pair(new MultifdPacket.Initial(new byte[16], 0));
            receiver.add(p.in());
            var w = p.out();
            new MultifdPacket.Ram(MultifdPacket.FLAG_SYNC, 0, 0, 0, "", new long[0]).write(w);
            w.flush();
            var e = assertThrows(MigrationException.class, receiver::sync);
            assertTrue(e.getMessage().matches("multifd: only 1 of 2 channels connected after \\d+ s: "
                    + "multifd-channels must be the same on both sides"), e.getMessage());
        }
    }

    @Test
    void aChannelThatEndsBetweenPacketsFailsTheSyncInsteadOfWaitingForever() throws Exception {
        // a link cut exactly where the SYNC packet would start: the stream ends cleanly, but without the SYNC
        try (var receiver = new MultifdReceiver(2, "none", List.of(ram))) {
            Pair ends = pair(new MultifdPacket.Initial(new byte[16], 0));
            receiver.add(ends.in());
            Pair syncs = pair(new MultifdPacket.Initial(new byte[16], 1));
            receiver.add(syncs.in());
            new MultifdPacket.Ram(MultifdPacket.FLAG_SYNC, 0, 0, 0, "", new long[0]).write(syncs.out());
            syncs.out().flush();
            ends.out().close();
            var e = assertThrows(MigrationException.class, receiver::sync);
            assertTrue(e.getMessage().contains("multifd: the channel ended before the SYNC the load waits for")
                    && e.getMessage().contains("section=multifd channel 0 offset=0x"), e.getMessage());
        }
    }
}
