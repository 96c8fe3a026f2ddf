package dev.livemig.ram;

import dev.livemig.machine.RamBlock;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.zip.Deflater;

import static org.junit.jupiter.api.Assertions.*;

/** COMPRESS_PAGE records in the loader, inflated inline (0 threads) or on decompression threads. */
class CompressedRecordLoadTest {
    private final List<DecompressThreads> started = new java.util.ArrayList<>();

    @org.junit.jupiter.api.AfterEach
    void stopThreads() {
        started.forEach(DecompressThreads::close);
    }

    private RamLoader loader(List<RamBlock> blocks, int threads) {
        if (threads == 0) {
            return new RamLoader(blocks);
        }
        var pool = new DecompressThreads(threads);
        started.add(pool);
        return new RamLoader(blocks, pool, dev.livemig.machine.HostFeatures.ALL);
    }

    private static byte[] compressed(MemorySegment page) {
        byte[] out = new byte[CompressedPage.MAX_LENGTH];
        int n = CompressedPage.encode(page, new Deflater(1), out);
        return java.util.Arrays.copyOf(out, n);
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 3})
    void pagesLandWhereTheirRecordsSayAndALaterPlainRecordWins(int threads) throws Exception {
        try (Arena arena = Arena.ofShared()) {
            RamBlock block = RamBlock.anonymous(arena, "pc.ram", 64 << 12);
            byte[] a = new byte[4096];
            java.util.Arrays.fill(a, (byte) 'a');
            byte[] b = new byte[4096];
            java.util.Arrays.fill(b, (byte) 'b');
            byte[] pa = compressed(MemorySegment.ofArray(a));
            var w = StreamWriter.inMemory();
            w.be64(0x1000 | RamFlags.COMPRESS_PAGE).str8("pc.ram").be32(pa.length).bytes(pa);
            for (int p = 2; p < 40; p++) {
                w.be64((long) p << 12 | RamFlags.COMPRESS_PAGE | RamFlags.CONTINUE).be32(pa.length).bytes(pa);
            }
            w.be64(0x1000 | RamFlags.PAGE | RamFlags.CONTINUE).bytes(b); // after its compressed version: must win
            w.be64(RamFlags.EOS);
            loader(List.of(block), threads).load(StreamReader.of(w.toByteArray()), 4);
            assertEquals(-1, block.page(0x1000).mismatch(MemorySegment.ofArray(b)));
            for (int p = 2; p < 40; p++) {
                assertEquals(-1, block.page((long) p << 12).mismatch(MemorySegment.ofArray(a)), "page " + p);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 2})
    void aBadPayloadIsRefusedAtItsRecord(int threads) throws Exception {
        try (Arena arena = Arena.ofShared()) {
            RamBlock block = RamBlock.anonymous(arena, "pc.ram", 16 << 12);
            byte[] good = compressed(MemorySegment.ofArray(new byte[4096]).fill((byte) 7));
            var w = StreamWriter.inMemory();
            w.be64(0x1000 | RamFlags.COMPRESS_PAGE).str8("pc.ram").be32(good.length).bytes(good);
            long badAt = w.offset();
            w.be64(0x2000 | RamFlags.COMPRESS_PAGE | RamFlags.CONTINUE).be32(5).bytes(new byte[]{1, 2, 3, 4, 5});
            w.be64(RamFlags.EOS);
            var e = assertThrows(MigrationException.class,
                    () -> loader(List.of(block), threads).load(StreamReader.of(w.toByteArray()), 4));
            assertTrue(e.getMessage().contains("not a zlib stream"), e.getMessage());
            assertEquals(badAt, e.offset(), e.getMessage());
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {-1, CompressedPage.MAX_LENGTH + 1, Integer.MAX_VALUE})
    void aLengthBeyondCompressBoundIsRefusedBeforeAnythingIsRead(int length) throws Exception {
        try (Arena arena = Arena.ofShared()) {
            RamBlock block = RamBlock.anonymous(arena, "pc.ram", 16 << 12);
            var w = StreamWriter.inMemory();
            w.be64(0x1000 | RamFlags.COMPRESS_PAGE).str8("pc.ram").be32(length);
            var e = assertThrows(MigrationException.class,
                    () -> new RamLoader(List.of(block)).load(StreamReader.of(w.toByteArray()), 4));
            assertTrue(e.getMessage().contains("compressed page length outside 0..4110"), e.getMessage());
            assertEquals(0, e.offset());
        }
    }
}
