package dev.livemig.wire;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.*;

class StreamReaderTest {
    private static final byte[] SAMPLE = HexFormat.of().parseHex("7e" + "1234" + "deadbeef" + "0102030405060708" + "03" + "72616d");

    @Test
    void readsPrimitivesWhateverTheDelivery() throws Exception {
        for (StreamReader r : ChunkedChannel.deliveries(SAMPLE)) {
            assertEquals(0x7e, r.u8());
            assertEquals(0x1234, r.be16());
            assertEquals(0xdeadbeefL, r.be32u());
            assertEquals(0x0102030405060708L, r.be64());
            assertEquals("ram", r.str8());
            assertEquals(SAMPLE.length, r.offset());
            assertTrue(r.atEnd());
        }
    }

    @Test
    void peekDoesNotConsumeAndSeesPastTheBufferedBytes() throws Exception {
        for (StreamReader r : ChunkedChannel.deliveries(SAMPLE)) {
            assertEquals(0x7e, r.peek(0));
            assertEquals(0x72, r.peek(16));
            assertEquals(-1, r.peek(SAMPLE.length));
            assertEquals(0, r.offset());
            assertEquals(0x7e, r.u8());
        }
    }

    @Test
    void readFullyFillsASegmentWhateverTheDelivery() throws Exception {
        byte[] data = new byte[3 * 300_000 + 17];
        new java.util.Random(7).nextBytes(data);
        try (Arena arena = Arena.ofConfined()) {
            for (StreamReader r : ChunkedChannel.deliveries(data)) {
                r.u8();
                MemorySegment dst = arena.allocate(data.length - 1);
                r.readFully(dst);
                assertEquals(-1, dst.mismatch(MemorySegment.ofArray(data).asSlice(1)));
                assertEquals(data.length, r.offset());
            }
        }
    }

    @Test
    void truncationIsReportedWithTheOffsetAndSection() {
        var r = StreamReader.of(HexFormat.of().parseHex("00000001" + "0000"));
        r.section("timer");
        assertDoesNotThrow(r::be32);
        var e = assertThrows(MigrationException.class, r::be32);
        assertEquals(4, e.offset());
        assertEquals("timer", e.section());
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
        assertTrue(e.getMessage().contains("section=timer offset=0x4"), e.getMessage());
    }

    @Test
    void truncatedSegmentReadIsAMigrationException() {
        try (Arena arena = Arena.ofConfined()) {
            var r = new StreamReader(ChunkedChannel.oneByteAtATime(new byte[1000]), 512);
            assertThrows(MigrationException.class, () -> r.readFully(arena.allocate(4096)));
        }
    }

    @Test
    void byteRunsLongerThanTheCapAreRefusedBeforeAllocation() {
        var r = StreamReader.of(new byte[4]);
        var e = assertThrows(MigrationException.class, () -> r.bytes(Integer.MAX_VALUE));
        assertTrue(e.getMessage().contains("length=" + Integer.MAX_VALUE), e.getMessage());
        assertThrows(MigrationException.class, () -> r.bytes(-1));
    }

    @Test
    void skipCrossesBufferBoundaries() throws Exception {
        byte[] data = new byte[5000];
        data[4999] = 9;
        for (StreamReader r : ChunkedChannel.deliveries(data)) {
            r.skip(4999);
            assertEquals(9, r.u8());
        }
    }

    @Test
    void skippingPastTheEndOfAMappedFileIsTruncationAtTheSkip() throws Exception {
        for (int window : new int[] {512, 1 << 30}) {
            var r = ChunkedChannel.mappedFile(new byte[5000], window);
            r.section("ram");
            r.skip(4000);
            var e = assertThrows(MigrationException.class, () -> r.skip(1001));
            assertEquals(4000, e.offset());
            assertTrue(e.getMessage().contains("truncated"), e.getMessage());
            r.skip(1000);
            assertTrue(r.atEnd());
            r.close();
        }
    }

    @Test
    void anEmptyFileMapsToAnEmptyStream() throws Exception {
        var r = ChunkedChannel.mappedFile(new byte[0], 512);
        assertTrue(r.atEnd());
        assertThrows(MigrationException.class, r::u8);
        r.close();
    }

    /** Heap bytes this thread allocated while {@code action} ran (HotSpot counts them per thread; no timing involved). */
    private static long allocatedBy(ThrowingRunnable action) throws Exception {
        var threads = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();
        action.run();
        return threads.getCurrentThreadAllocatedBytes() - before;
    }

    private interface ThrowingRunnable {
        void run() throws Exception;
    }

    @Test
    void aShortStreamDeclaringALongRunCostsWhatItSentNotWhatItDeclared() throws Exception {
        byte[] sent = new byte[1000];
        for (StreamReader in : ChunkedChannel.deliveries(sent)) {
            long allocated = allocatedBy(() -> {
                var e = assertThrows(MigrationException.class, () -> in.bytes(StreamReader.MAX_ARRAY));
                assertTrue(e.getMessage().startsWith("truncated stream"), e.getMessage());
            });
            assertTrue(allocated < 8 << 20, "a 64 MiB length over 1000 bytes allocated " + allocated + " bytes");
        }
    }

    @Test
    void bytesUpToStopsWhereTheStreamEnds() throws Exception {
        byte[] sent = new byte[3000];
        for (int i = 0; i < sent.length; i++) {
            sent[i] = (byte) i;
        }
        for (StreamReader in : ChunkedChannel.deliveries(sent)) {
            in.skip(10);
            assertArrayEquals(java.util.Arrays.copyOfRange(sent, 10, 20), in.bytesUpTo(10));
            assertArrayEquals(java.util.Arrays.copyOfRange(sent, 20, 3000), in.bytesUpTo(StreamReader.MAX_ARRAY));
            assertTrue(in.atEnd());
            assertEquals(0, in.skipUpTo(5));
        }
    }
}
