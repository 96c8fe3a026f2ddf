package dev.livemig.ram;

import dev.livemig.host.HostCheck;
import dev.livemig.host.HostChecks;
import dev.livemig.machine.HostFeatures;
import dev.livemig.machine.KernelFeature;
import dev.livemig.machine.DirtyTracker;
import dev.livemig.machine.ExplicitDirtyTracker;
import dev.livemig.linux.Mmap;
import dev.livemig.machine.PageBacking;
import dev.livemig.machine.RamBlock;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Zero pages known from the kernel instead of read: fast, and never at the cost of a lost write. Whether the
 * kernel can tell (PAGEMAP_SCAN) and what a read fault maps differ between hosts; the contract holds for each.
 */
class PopulatedPagesTest {
    private static final HostFeatures WITHOUT_SCAN = HostFeatures.ALL.without(KernelFeature.PAGEMAP_SCAN);

    private static boolean hostHasPagemapScan() {
        return HostChecks.pagemapScan(HostFeatures.ALL).status() == HostCheck.Status.OK;
    }

    /**
     * A store populates one 4 KiB page, or the whole 2 MiB huge page around it: then the other 511 pages may
     * hold data as far as the kernel can tell, and are read (and found zero).
     */
    @ParameterizedTest
    @EnumSource(PageBacking.class)
    void untouchedPagesAreKnownEmptyWrittenOnesMayHoldDataOrEverythingIsReadWithoutTheKernelsHelp(PageBacking backing) {
        try (Arena arena = Arena.ofShared()) {
            var block = backing.untouched(arena, "ram", 2 * Mmap.HUGE_PAGE_SIZE);
            block.memory().set(ValueLayout.JAVA_LONG, 5 * 4096, 1);
            var maybeData = PopulatedPages.of(block, HostFeatures.ALL);
            if (!hostHasPagemapScan()) {
                assertNull(maybeData, "without PAGEMAP_SCAN nothing is known: every page is read");
                return;
            }
            assertNotNull(maybeData);
            assertTrue(maybeData.get(5));
            long huge = PageBacking.hugeBytes(block);
            assertEquals(huge == 0 ? 1 : huge / 4096, maybeData.count(), "huge-page bytes: " + huge);
            assertFalse(maybeData.get(block.targetPages() - 1), "the second 2 MiB was never touched");
        }
    }

    @Test
    void aPageThatWasOnlyReadIsKnownEmptyExactlyWhenTheHostMapsTheSharedZeroPage() {
        var sharedZeroPage = HostChecks.readFaultMapsZeroPage();
        org.junit.jupiter.api.Assumptions.assumeTrue(sharedZeroPage.isPresent(),
                "telling what a read fault maps needs PAGEMAP_SCAN");
        try (Arena arena = Arena.ofShared()) {
            var block = PageBacking.SMALL.untouched(arena, "ram", 64 * 4096);
            block.memory().get(ValueLayout.JAVA_LONG, 9 * 4096);
            var maybeData = PopulatedPages.of(block, HostFeatures.ALL);
            assertNotNull(maybeData);
            // a page of its own may hold data as far as the scan knows: it is read, and found zero
            assertEquals(!sharedZeroPage.get(), maybeData.get(9), "read fault maps the zero page: " + sharedZeroPage.get());
            assertEquals(sharedZeroPage.get() ? 0 : 1, maybeData.count());
        }
    }

    @Test
    void withPagemapScanSwitchedOffEveryPageIsRead() {
        try (Arena arena = Arena.ofShared()) {
            var block = RamBlock.anonymous(arena, "ram", 8 * 4096);
            assertNull(PopulatedPages.of(block, WITHOUT_SCAN));
        }
    }

    @Test
    void fileBackedMemoryIsAlwaysRead(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        try (Arena arena = Arena.ofShared()) {
            assertNull(PopulatedPages.of(RamBlock.mappedFile(arena, "f", dir.resolve("f"), 8 * 4096), HostFeatures.ALL));
        }
    }

    /**
     * Memory advised for huge pages and only read: the kernel may map the huge zero page. Whatever it maps,
     * a page known empty reads as zero, and a page that may hold data is read and sent as what it holds.
     */
    @Test
    void aHugePageThatWasOnlyReadIsSentAsZeroPagesWhateverTheKernelMapped() throws Exception {
        try (Arena arena = Arena.ofShared(); DirtyTracker tracker = DirtyTracker.automatic()) {
            var src = PageBacking.HUGE.untouched(arena, "ram", 2 * Mmap.HUGE_PAGE_SIZE);
            long sum = 0;
            for (long off = 0; off < Mmap.HUGE_PAGE_SIZE; off += 4096) {
                sum += src.memory().get(ValueLayout.JAVA_LONG, off);
            }
            assertEquals(0, sum);
            var counters = new RamCounters();
            var saver = new RamSaver(List.of(src), counters, tracker, RamOptions.PLAIN, null, HostFeatures.ALL);
            var w = StreamWriter.inMemory();
            saver.setup(w);
            saver.iterate(w, 0);
            saver.complete(w);
            saver.cleanup();
            assertEquals(0, counters.normal.get(), "no page of data");
            assertEquals(src.targetPages(), counters.duplicate.get(), "every page a ZERO record");
        }
    }

    @ParameterizedTest
    @EnumSource(PageBacking.class)
    void aPageWrittenAfterSetupIsSentAgainWithItsContent(PageBacking backing) throws Exception {
        record Case(DirtyTracker tracker, HostFeatures features) {
        }
        for (Case c : List.of(new Case(new ExplicitDirtyTracker(), HostFeatures.ALL),
                new Case(DirtyTracker.automatic(), HostFeatures.ALL),
                new Case(new ExplicitDirtyTracker(), WITHOUT_SCAN),
                new Case(DirtyTracker.automatic(HostFeatures.ALL.without(KernelFeature.USERFAULTFD_WP)), HostFeatures.ALL))) {
            DirtyTracker tracker = c.tracker();
            try (Arena arena = Arena.ofShared(); tracker) {
                var src = backing.block(arena, "ram", 16 * 4096);
                var dst = backing.untouched(arena, "ram", 16 * 4096);
                var saver = new RamSaver(List.of(src), new RamCounters(), tracker, RamOptions.PLAIN, null, c.features());
                var w = StreamWriter.inMemory();
                saver.setup(w);
                // written after the scan that called every page empty
                src.page(3 * 4096).fill((byte) 0x77);
                if (tracker instanceof ExplicitDirtyTracker) {
                    src.markDirty(3 * 4096, 4096);
                }
                saver.iterate(w, 0);
                saver.complete(w);
                saver.cleanup();
                var loader = new RamLoader(List.of(dst), null, c.features());
                var r = StreamReader.of(w.toByteArray());
                loader.load(r, 4);
                loader.load(r, 4);
                loader.load(r, 4);
                assertEquals(-1, dst.memory().mismatch(src.memory()), tracker.name() + " " + c.features());
            }
        }
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(booleans = {true, false})
    void aZeroRecordClearsAPageThatHeldDataBeforeOrReceivedItDuringTheLoad(boolean pagemapScan) throws Exception {
        HostFeatures features = pagemapScan ? HostFeatures.ALL : WITHOUT_SCAN;
        try (Arena arena = Arena.ofShared()) {
            var dst = RamBlock.anonymous(arena, "ram", 4 * 4096);
            dst.page(0x3000).fill((byte) 5); // held data before the load began
            var loader = new RamLoader(List.of(dst), null, features);
            var w = StreamWriter.inMemory();
            w.be64(0x1000 | RamFlags.PAGE).str8("ram").page(MemorySegment.ofArray(new byte[4096]).fill((byte) 9));
            w.be64(0x1000 | RamFlags.ZERO | RamFlags.CONTINUE).u8(0);
            w.be64(0x3000 | RamFlags.ZERO | RamFlags.CONTINUE).u8(0);
            w.be64(RamFlags.EOS);
            loader.load(StreamReader.of(w.toByteArray()), 4);
            assertEquals(0, dst.memory().get(ValueLayout.JAVA_BYTE, 0x1000 + 100), "the later ZERO record wins");
            assertEquals(-1, dst.page(0x3000).mismatch(MemorySegment.ofArray(new byte[4096])), "old data cleared");
        }
    }
}
