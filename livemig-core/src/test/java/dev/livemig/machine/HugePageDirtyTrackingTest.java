package dev.livemig.machine;

import dev.livemig.host.HostAssumptions;
import dev.livemig.host.HostChecks;
import dev.livemig.linux.Mmap;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.BitSet;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Userfaultfd write protection over memory the kernel backs with transparent huge pages. What the kernel does
 * (Linux 6.7+, WP_ASYNC): protecting a huge page protects its one PMD; the first write into it splits the PMD
 * into 512 PTEs and clears the protection of the written 4 KiB page only, so PAGEMAP_SCAN reports exactly
 * that page. Dirty tracking keeps 4 KiB granularity (nothing resent) and pays one split per huge page
 * written; arming and scanning untouched huge pages costs one entry per 2 MiB instead of 512.
 *
 * <p>Whether an advised block gets huge pages is the host's choice; every assertion on pages holds either
 * way, and those on splitting are made when the host gave huge pages.
 */
class HugePageDirtyTrackingTest {
    private static final long PAGE = RamBlock.TARGET_PAGE_SIZE;
    private static final long HUGE = Mmap.HUGE_PAGE_SIZE;

    @BeforeEach
    void needsTransparentTracking() {
        HostAssumptions.assumeUserfaultfdWriteProtect();
        HostAssumptions.assumePagemapScan();
    }

    private static BitSet logged(RamBlock block) {
        return DirtyTrackerTest.logged(block);
    }

    @Test
    void anAdvisedBlockGetsHugePagesWhereTheHostGivesThemToAdvisedMemory() {
        boolean hostGives = HostChecks.advisedMemoryGetsHugePages().orElse(false);
        try (Arena arena = Arena.ofShared()) {
            RamBlock block = PageBacking.HUGE.block(arena, "ram", 4 * HUGE);
            assertEquals(0, block.memory().address() % HUGE, "aligned so that every 2 MiB can be one huge page");
            if (hostGives) {
                assertTrue(block.hugePagesAdvised());
                assertTrue(PageBacking.hugeBytes(block) > 0, "no huge page in a populated, advised block");
            }
            RamBlock small = PageBacking.SMALL.block(arena, "small", 4 * HUGE);
            assertFalse(small.hugePagesAdvised());
        }
    }

    @Test
    void oneStoreIntoAProtectedHugePageReportsOnlyItsOwn4KiBPageAndSplitsThatHugePageOnly() {
        try (Arena arena = Arena.ofShared(); DirtyTracker tracker = DirtyTracker.automatic()) {
            RamBlock block = PageBacking.HUGE.block(arena, "ram", 8 * HUGE);
            long hugeBefore = PageBacking.hugeBytes(block);
            tracker.start(block);
            tracker.collect(block);
            assertEquals(0, block.dirtyLog().count(), "arming reports nothing");
            assertEquals(hugeBefore, PageBacking.hugeBytes(block), "arming splits nothing");

            long offset = 3 * HUGE + 17 * PAGE + 5;
            block.memory().set(ValueLayout.JAVA_BYTE, offset, (byte) 1);
            tracker.collect(block);
            assertEquals(1, block.dirtyLog().count());
            assertTrue(block.dirtyLog().get(offset / PAGE));
            if (hugeBefore == block.usedLength()) { // the host gave huge pages throughout
                assertEquals(hugeBefore - HUGE, PageBacking.hugeBytes(block), "only the written huge page is split");
            }
            block.dirtyLog().clear();
            tracker.collect(block);
            assertEquals(0, block.dirtyLog().count(), "re-protected: reported once");
            block.memory().set(ValueLayout.JAVA_BYTE, offset + PAGE, (byte) 1); // the neighbour, in the split page
            tracker.collect(block);
            BitSet expected = new BitSet();
            expected.set((int) (offset / PAGE) + 1);
            assertEquals(expected, logged(block));
        }
    }

    @Test
    void randomStoresAcrossHugePagesAreReportedExactlyRoundAfterRound() {
        try (Arena arena = Arena.ofShared(); DirtyTracker tracker = DirtyTracker.automatic()) {
            RamBlock block = PageBacking.HUGE.block(arena, "ram", 32 * HUGE);
            int pages = (int) block.targetPages();
            tracker.start(block);
            SplittableRandom rnd = new SplittableRandom(7);
            for (int round = 0; round < 6; round++) {
                BitSet written = new BitSet();
                for (int i = 0; i < 300; i++) {
                    int p = rnd.nextInt(pages);
                    written.set(p);
                    block.memory().set(ValueLayout.JAVA_LONG, p * PAGE + rnd.nextInt((int) PAGE / 8) * 8L, round + 1L);
                }
                tracker.collect(block);
                assertEquals(written, logged(block), "round " + round);
                block.dirtyLog().clear();
            }
            tracker.stop(block);
        }
    }

    @Test
    void armingAndScanningAGibibyteOfHugePagesIsCheapAndExact() {
        try (Arena arena = Arena.ofShared(); DirtyTracker tracker = DirtyTracker.automatic()) {
            RamBlock block = PageBacking.HUGE.block(arena, "big", 1L << 30);
            long t0 = System.nanoTime();
            tracker.start(block);
            long t1 = System.nanoTime();
            tracker.collect(block);
            long t2 = System.nanoTime();
            assertEquals(0, block.dirtyLog().count());
            block.memory().set(ValueLayout.JAVA_BYTE, 0, (byte) 1);
            block.memory().set(ValueLayout.JAVA_BYTE, (1L << 30) - 1, (byte) 1);
            tracker.collect(block);
            assertEquals(2, block.dirtyLog().count());
            // a figure for the log, not a pass mark: timing belongs to the benchmarks
            System.out.printf("1 GiB populated, %d MiB in huge pages: start %.2f ms, empty collect %.2f ms%n",
                    PageBacking.hugeBytes(block) >> 20, (t1 - t0) / 1e6, (t2 - t1) / 1e6);
        }
    }
}
