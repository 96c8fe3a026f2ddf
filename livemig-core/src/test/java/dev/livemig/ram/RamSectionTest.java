package dev.livemig.ram;

import dev.livemig.machine.PageBacking;
import dev.livemig.machine.RamBlock;
import dev.livemig.wire.ChunkedChannel;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** The "ram" section body, both ways (format reference §7). */
class RamSectionTest {
    private final Arena arena = Arena.ofShared();

    @AfterEach
    void release() {
        arena.close();
    }

    private static byte[] hex(String s) {
        return HexFormat.of().parseHex(s.replace(" ", ""));
    }

    private static String hex(byte[] b) {
        return HexFormat.of().formatHex(b);
    }

    /** The block list of QEMU 7.2's -machine pc -m 32M (§7.4). */
    private List<RamBlock> pcBlocks() {
        return List.of(RamBlock.anonymous(arena, "pc.ram", 0x2000000), RamBlock.anonymous(arena, "/rom@etc/acpi/tables", 0x20000),
                RamBlock.anonymous(arena, "pc.bios", 0x40000), RamBlock.anonymous(arena, "pc.rom", 0x20000),
                RamBlock.anonymous(arena, "/rom@etc/table-loader", 0x1000), RamBlock.anonymous(arena, "/rom@etc/acpi/rsdp", 0x1000));
    }

    @Test
    void setupWritesQemusBlockListByteForByte() throws Exception {
        var w = StreamWriter.inMemory();
        new RamSaver(pcBlocks(), new RamCounters()).setup(w);
        String expected = "0000000002082004"
                + "06" + hex("pc.ram".getBytes()) + "0000000002000000"
                + "14" + hex("/rom@etc/acpi/tables".getBytes()) + "0000000000020000"
                + "07" + hex("pc.bios".getBytes()) + "0000000000040000"
                + "06" + hex("pc.rom".getBytes()) + "0000000000020000"
                + "15" + hex("/rom@etc/table-loader".getBytes()) + "0000000000001000"
                + "12" + hex("/rom@etc/acpi/rsdp".getBytes()) + "0000000000001000"
                + "0000000000000010";
        assertEquals(expected, hex(w.toByteArray()));
    }

    @Test
    void zeroPagesAreOneByteAndContinueOmitsTheBlockName() throws Exception {
        var block = RamBlock.anonymous(arena, "pc.ram", 3 * 4096);
        block.page(4096).fill((byte) 0xab);
        var counters = new RamCounters();
        var saver = new RamSaver(List.of(block), counters);
        saver.setup(StreamWriter.inMemory());
        var w = StreamWriter.inMemory();
        assertTrue(saver.iterate(w, 0));
        byte[] out = w.toByteArray();
        String head = "0000000000000002 06" + hex("pc.ram".getBytes()) + "00" + "0000000000001028";
        assertEquals(head.replace(" ", ""), hex(out).substring(0, head.replace(" ", "").length()));
        String tail = "0000000000002022 00 0000000000000010".replace(" ", "");
        assertTrue(hex(out).endsWith(tail));
        assertEquals(8 + 1 + 6 + 1 + 8 + 4096 + 8 + 1 + 8, out.length);
        assertEquals(2, counters.duplicate.get());
        assertEquals(1, counters.normal.get());
    }

    @Test
    void withZeroPageDetectionNoneEveryPageGoesWithItsData() throws Exception {
        var block = RamBlock.anonymous(arena, "pc.ram", 3 * 4096);
        block.page(4096).fill((byte) 0xab);
        var counters = new RamCounters();
        var none = new RamOptions(false, 1, 8, true, 2, false, 64L << 20, ZeroPageDetection.NONE);
        var saver = new RamSaver(List.of(block), counters, new dev.livemig.machine.ExplicitDirtyTracker(), none);
        saver.setup(StreamWriter.inMemory());
        var w = StreamWriter.inMemory();
        assertTrue(saver.iterate(w, 0));
        // three PAGE records (the first names the block), then EOS: QEMU's zero-page-detection=none
        assertEquals(8 + 1 + 6 + 3 * 4096 + 2 * 8 + 8, w.toByteArray().length);
        assertEquals(0, counters.duplicate.get());
        assertEquals(3, counters.normal.get());
    }

    @ParameterizedTest
    @EnumSource(PageBacking.class)
    void pagesRoundTripIntoAnotherMachinesBlocksWhateverTheDelivery(PageBacking backing) throws Exception {
        var src = List.of(backing.block(arena, "a", 64 * 4096), backing.block(arena, "b", 16 * 4096));
        var rnd = new Random(1);
        for (int p = 0; p < 64; p += 3) {
            byte[] page = new byte[4096];
            rnd.nextBytes(page);
            src.get(0).page(p * 4096L).copyFrom(java.lang.foreign.MemorySegment.ofArray(page));
        }
        src.get(1).memory().set(ValueLayout.JAVA_LONG, 5 * 4096 + 8, -1L);
        byte[] stream = saveAll(src);
        for (StreamReader r : ChunkedChannel.deliveries(stream)) {
            var dst = List.of(backing.untouched(arena, "a", 64 * 4096), backing.untouched(arena, "b", 16 * 4096));
            dst.get(1).page(0).fill((byte) 9); // stale destination data must be overwritten by the zero page
            var loader = new RamLoader(dst);
            loader.load(r, 4);
            loader.load(r, 4);
            loader.load(r, 4);
            for (int i = 0; i < 2; i++) {
                assertEquals(-1, dst.get(i).memory().mismatch(src.get(i).memory()), "block " + i);
            }
            assertEquals(src.get(0).targetPages() + src.get(1).targetPages(), loader.pagesLoaded());
        }
    }

    @Test
    void dirtiedPagesAreSentAgainAfterASync() throws Exception {
        var block = RamBlock.anonymous(arena, "pc.ram", 8 * 4096);
        var saver = new RamSaver(List.of(block), new RamCounters());
        saver.setup(StreamWriter.inMemory());
        assertTrue(saver.iterate(StreamWriter.inMemory(), 0));
        assertEquals(0, saver.remainingBytes());
        block.page(3 * 4096).fill((byte) 1);
        block.markDirty(3 * 4096, 4096);
        assertEquals(1, saver.sync());
        assertEquals(4096, saver.remainingBytes());
        var w = StreamWriter.inMemory();
        saver.complete(w);
        byte[] out = w.toByteArray();
        assertEquals(8 + 4096 + 8, out.length, "the block name is not repeated: the last page went to the same block");
        assertEquals("0000000000003028", hex(out).substring(0, 16));
    }

    private byte[] saveAll(List<RamBlock> blocks) throws MigrationException {
        var saver = new RamSaver(blocks, new RamCounters());
        var w = StreamWriter.inMemory();
        saver.setup(w);
        while (!saver.iterate(w, 100_000)) {
            // rounds until every page went out
        }
        saver.complete(w);
        return w.toByteArray();
    }

    private MigrationException loadFails(String hexBody) {
        var dst = List.of(RamBlock.anonymous(arena, "pc.ram", 4 * 4096));
        return assertThrows(MigrationException.class, () -> new RamLoader(dst).load(StreamReader.of(hex(hexBody)), 4));
    }

    @Test
    void hostileRecordsAreRejectedWithTheirOffset() {
        String pcram = "06" + hex("pc.ram".getBytes());
        var outside = loadFails("0000000000004008" + pcram);
        assertTrue(outside.getMessage().contains("page offset out of range: block=pc.ram offset=0x4000 length=0x4000"), outside.getMessage());
        assertEquals(0, outside.offset());
        var negative = loadFails("8000000000000008" + pcram + "00".repeat(4096)); // the address word's top bit set
        assertTrue(negative.getMessage().contains("page offset out of range: block=pc.ram offset=0x8000000000000000"),
                negative.getMessage());
        var unknown = loadFails("0000000000000008 03" + hex("foo".getBytes()));
        assertTrue(unknown.getMessage().contains("unknown RAM block: block=foo"), unknown.getMessage());
        var cont = loadFails("0000000000000010".repeat(0) + "0000000000000022 00");
        assertTrue(cont.getMessage().contains("CONTINUE"), cont.getMessage());
        var xbzrle = loadFails("0000000000000040" + pcram + "02");
        assertTrue(xbzrle.getMessage().contains("xbzrle record with an unknown encoding: encoding=2"), xbzrle.getMessage());
        var longDelta = loadFails("0000000000000040" + pcram + "01" + "1001");
        assertTrue(longDelta.getMessage().contains("xbzrle delta longer than a page: length=4097"), longDelta.getMessage());
        assertEquals(0, longDelta.offset());
        var hook = loadFails("0000000000000080");
        assertTrue(hook.getMessage().contains("kind=HOOK"), hook.getMessage());
        var both = loadFails("000000000000000a" + pcram);
        assertTrue(both.getMessage().contains("invalid ram record flags: flags=0x00a"), both.getMessage());
        var full = loadFails("0000000000000001");
        assertTrue(full.getMessage().contains("flags=0x001"), full.getMessage());
        var truncated = loadFails("0000000000000008" + pcram + "0000");
        assertTrue(truncated.getMessage().contains("truncated"), truncated.getMessage());
        var badList = loadFails("0000000000005004" + pcram + "0000000000005000");
        assertTrue(badList.getMessage().contains("length differs"), badList.getMessage());
        var wrongVersion = assertThrows(MigrationException.class,
                () -> new RamLoader(List.of()).load(StreamReader.of(hex("0000000000000010")), 3));
        assertTrue(wrongVersion.getMessage().contains("version=3"), wrongVersion.getMessage());
    }
}
