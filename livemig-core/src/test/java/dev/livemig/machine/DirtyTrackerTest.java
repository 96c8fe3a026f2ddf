package dev.livemig.machine;

import dev.livemig.host.HostAssumptions;
import dev.livemig.host.HostCheck;
import dev.livemig.host.HostChecks;
import dev.livemig.machine.HostFeatures;
import dev.livemig.machine.KernelFeature;
import dev.livemig.linux.PagemapScan;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The automatic tracker: the userfaultfd one exactly when the host offers WP_ASYNC and PAGEMAP_SCAN (and
 * neither is switched off), the explicit one with its reason otherwise. The userfaultfd tracker must report
 * exactly the pages written with plain stores, without any markDirty call; those tests need it.
 */
class DirtyTrackerTest {
    private static final long PAGE = RamBlock.TARGET_PAGE_SIZE;

    private DirtyTracker tracker;
    private Arena arena;

    @BeforeEach
    void open(org.junit.jupiter.api.TestInfo test) {
        arena = Arena.ofShared();
        tracker = DirtyTracker.automatic();
        if (test.getTags().contains("uffd")) {
            HostAssumptions.assumeUserfaultfdWriteProtect();
            HostAssumptions.assumePagemapScan();
        }
    }

    private static boolean hostOffersTransparentTracking() {
        return HostChecks.userfaultfd(HostFeatures.ALL).status() == HostCheck.Status.OK
                && HostChecks.pagemapScan(HostFeatures.ALL).status() == HostCheck.Status.OK;
    }

    @AfterEach
    void close() {
        tracker.close();
        arena.close();
    }

    /** The pages in the block's dirty log. */
    static BitSet logged(RamBlock block) {
        BitSet s = new BitSet();
        for (long p = block.dirtyLog().nextSet(0); p >= 0; p = block.dirtyLog().nextSet(p + 1)) {
            s.set((int) p);
        }
        return s;
    }

    @Test
    void theHostGetsTheUserfaultfdTrackerExactlyWhenItOffersTheFeatures() {
        if (hostOffersTransparentTracking()) {
            assertInstanceOf(UffdDirtyTracker.class, tracker, tracker.name());
        } else {
            assertInstanceOf(ExplicitDirtyTracker.class, tracker, tracker.name());
            assertTrue(tracker.name().contains("unavailable"), "the name says why: " + tracker.name());
        }
    }

    @Test
    void aSwitchedOffFeatureGivesTheExplicitTrackerNamingIt() {
        for (KernelFeature off : new KernelFeature[] {KernelFeature.USERFAULTFD_WP, KernelFeature.PAGEMAP_SCAN}) {
            try (DirtyTracker t = DirtyTracker.automatic(HostFeatures.ALL.without(off))) {
                assertInstanceOf(ExplicitDirtyTracker.class, t, t.name());
                assertTrue(t.name().contains(off.key()), t.name());
            }
        }
        try (DirtyTracker t = DirtyTracker.automatic(HostFeatures.ALL.without(KernelFeature.MSG_ZEROCOPY))) {
            assertEquals(hostOffersTransparentTracking(), t instanceof UffdDirtyTracker, "unrelated switches change nothing");
        }
    }

    @Test
    void theExplicitFallbackSeesExactlyWhatIsMarked() {
        try (DirtyTracker t = DirtyTracker.automatic(HostFeatures.ALL.without(KernelFeature.USERFAULTFD_WP))) {
            RamBlock block = RamBlock.anonymous(arena, "ram", 16 * PAGE);
            t.start(block);
            block.memory().set(ValueLayout.JAVA_BYTE, 2 * PAGE, (byte) 1); // a plain store: invisible to it
            block.markDirty(5 * PAGE, 2 * PAGE);
            t.collect(block);
            BitSet expected = new BitSet();
            expected.set(5, 7);
            assertEquals(expected, logged(block));
            t.stop(block);
        }
    }

    @ParameterizedTest
    @EnumSource(PageBacking.class)
    @org.junit.jupiter.api.Tag("uffd")
    void exactlyTheWrittenPagesOfA64MiBBlockAppear(PageBacking backing) {
        RamBlock block = backing.block(arena, "pc.ram", 64L << 20);
        int pages = (int) block.targetPages();
        SplittableRandom rnd = new SplittableRandom(42);
        for (int i = 0; i < 2000; i++) { // populate some pages before arming: they count only when rewritten
            block.memory().set(ValueLayout.JAVA_BYTE, rnd.nextInt(pages) * PAGE, (byte) 1);
        }
        tracker.start(block);
        for (int round = 0; round < 5; round++) {
            BitSet written = new BitSet();
            written.set(0);
            written.set(pages - 1);
            for (int i = 0; i < 500; i++) {
                written.set(rnd.nextInt(pages));
            }
            for (int p = written.nextSetBit(0); p >= 0; p = written.nextSetBit(p + 1)) {
                long off = p * PAGE + rnd.nextInt((int) PAGE / 8) * 8L; // anywhere inside the page
                block.memory().set(ValueLayout.JAVA_LONG, off, round * 1000L + p);
            }
            tracker.collect(block);
            assertEquals(written, logged(block), "round " + round);
            block.dirtyLog().clear();
            tracker.collect(block);
            assertEquals(0, block.dirtyLog().count(), "nothing written since the last collect");
        }
    }

    @ParameterizedTest
    @EnumSource(PageBacking.class)
    @org.junit.jupiter.api.Tag("uffd")
    void aStoreStraddlingTwoPagesMarksBoth(PageBacking backing) {
        RamBlock block = backing.block(arena, "ram", 16 * PAGE);
        tracker.start(block);
        block.memory().set(ValueLayout.JAVA_LONG_UNALIGNED, 5 * PAGE - 4, -1L);
        MemorySegment.copy(new byte[3 * (int) PAGE], 0, block.memory(), ValueLayout.JAVA_BYTE, 9 * PAGE + 1, 3 * (int) PAGE);
        tracker.collect(block);
        BitSet expected = new BitSet();
        expected.set(4, 6);
        expected.set(9, 13);
        assertEquals(expected, logged(block));
    }

    @ParameterizedTest
    @EnumSource(PageBacking.class)
    @org.junit.jupiter.api.Tag("uffd")
    void writesMadeByTheKernelOnOurBehalfAreCaughtToo(PageBacking backing, @TempDir Path dir) throws IOException {
        RamBlock block = backing.block(arena, "ram", 16 * PAGE);
        Path f = dir.resolve("data");
        Files.write(f, new byte[(int) (2 * PAGE)]);
        tracker.start(block);
        ByteBuffer target = block.memory().asSlice(3 * PAGE, 2 * PAGE).asByteBuffer();
        try (FileChannel ch = FileChannel.open(f)) {
            while (target.hasRemaining() && ch.read(target) >= 0) {
                // read(2) copies straight into the guest pages: a kernel-mode write
            }
        }
        tracker.collect(block);
        BitSet expected = new BitSet();
        expected.set(3, 5);
        assertEquals(expected, logged(block));
    }

    @ParameterizedTest
    @EnumSource(PageBacking.class)
    @org.junit.jupiter.api.Tag("uffd")
    void aGibibyteOfUntouchedMemoryArmsAndReportsOnlyWhatIsWritten(PageBacking backing) {
        RamBlock block = backing.untouched(arena, "big", 1L << 30);
        long t0 = System.nanoTime();
        tracker.start(block);
        long t1 = System.nanoTime();
        tracker.collect(block);
        long t2 = System.nanoTime();
        assertEquals(0, block.dirtyLog().count());
        block.memory().set(ValueLayout.JAVA_BYTE, 0, (byte) 1);
        block.memory().set(ValueLayout.JAVA_BYTE, (1L << 29) + 5, (byte) 1);
        block.memory().set(ValueLayout.JAVA_BYTE, (1L << 30) - 1, (byte) 1);
        long t3 = System.nanoTime();
        tracker.collect(block);
        long t4 = System.nanoTime();
        assertEquals(3, block.dirtyLog().count());
        assertTrue(block.dirtyLog().get(block.targetPages() - 1));
        System.out.printf("1 GiB untouched: start %.1f ms, empty collect %.1f ms, collect of 3 pages %.1f ms%n",
                (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t4 - t3) / 1e6);
    }

    @ParameterizedTest
    @EnumSource(PageBacking.class)
    @org.junit.jupiter.api.Tag("uffd")
    void stopCollectsWhatIsPendingThenDisarms(PageBacking backing) {
        RamBlock block = backing.block(arena, "ram", 32 * PAGE);
        tracker.start(block);
        block.memory().set(ValueLayout.JAVA_INT, 7 * PAGE, 1);
        tracker.stop(block);
        assertEquals(1, block.dirtyLog().count(), "the write before stop is not lost");
        assertTrue(block.dirtyLog().get(7));
        block.dirtyLog().clear();

        for (long p = 0; p < 32; p++) { // would block forever if a synchronous fault were left armed
            block.memory().set(ValueLayout.JAVA_INT, p * PAGE, 2);
        }
        assertEquals(0, block.dirtyLog().count());
        assertThrows(IllegalStateException.class, () -> tracker.collect(block));
        try (PagemapScan scan = PagemapScan.open()) {
            long[] allowed = new long[1];
            scan.scan(block.memory(), 0, PagemapScan.PAGE_IS_WPALLOWED, PagemapScan.PAGE_IS_WPALLOWED, 16,
                    (from, to, c) -> allowed[0] += to - from);
            assertEquals(0, allowed[0], "no longer registered with the userfaultfd");
        }
        tracker.stop(block); // a second stop is harmless

        tracker.start(block); // and the block can be tracked again
        block.memory().set(ValueLayout.JAVA_INT, 31 * PAGE, 3);
        tracker.collect(block);
        assertEquals(1, block.dirtyLog().count());
        assertTrue(block.dirtyLog().get(31));
    }

    @ParameterizedTest
    @EnumSource(PageBacking.class)
    @org.junit.jupiter.api.Tag("uffd")
    void markDirtyStillWorksAlongsideAndBlocksAreIndependent(PageBacking backing) {
        RamBlock a = backing.block(arena, "a", 8 * PAGE);
        RamBlock b = backing.block(arena, "b", 8 * PAGE);
        tracker.start(a);
        tracker.start(b);
        a.markDirty(PAGE, 1);
        a.memory().set(ValueLayout.JAVA_BYTE, 2 * PAGE, (byte) 1);
        b.memory().set(ValueLayout.JAVA_BYTE, 5 * PAGE, (byte) 1);
        tracker.collect(a);
        BitSet expectedA = new BitSet();
        expectedA.set(1, 3);
        assertEquals(expectedA, logged(a));
        assertEquals(0, b.dirtyLog().count(), "b not collected yet");
        tracker.collect(b);
        assertEquals(BitSet.valueOf(new long[] {1L << 5}), logged(b));
    }

    @Test
    @org.junit.jupiter.api.Tag("uffd")
    void misuseIsReported() {
        RamBlock block = RamBlock.anonymous(arena, "ram", 8 * PAGE);
        assertThrows(IllegalStateException.class, () -> tracker.collect(block), "never started");
        tracker.start(block);
        assertThrows(IllegalStateException.class, () -> tracker.start(block), "started twice");
        RamBlock misaligned = new RamBlock("odd", block.memory().asSlice(0, 4 * PAGE), 4 * (int) PAGE);
        assertThrows(UnsupportedOperationException.class, () -> tracker.start(misaligned), "huge host pages");
    }

    @ParameterizedTest
    @EnumSource(PageBacking.class)
    @org.junit.jupiter.api.Tag("uffd")
    void fileBackedBlocksAreTrackedToo(PageBacking backing, @TempDir Path dir) throws IOException {
        // WP_ASYNC lifts the anonymous/shmem/hugetlbfs restriction of write-protect-only registrations.
        RamBlock file = RamBlock.mappedFile(arena, "file", dir.resolve("ram.img"), 8 * PAGE, backing.huge());
        file.memory().set(ValueLayout.JAVA_BYTE, 0, (byte) 1);
        tracker.start(file);
        file.memory().set(ValueLayout.JAVA_BYTE, 0, (byte) 2);
        file.memory().set(ValueLayout.JAVA_BYTE, 6 * PAGE, (byte) 2);
        tracker.collect(file);
        BitSet expected = new BitSet();
        expected.set(0);
        expected.set(6);
        assertEquals(expected, logged(file));
        tracker.stop(file);
    }

    @ParameterizedTest
    @EnumSource(PageBacking.class)
    @org.junit.jupiter.api.Tag("uffd")
    void closeStopsEveryBlock(PageBacking backing) {
        UffdDirtyTracker own = UffdDirtyTracker.open();
        RamBlock block = backing.block(arena, "ram", 8 * PAGE);
        own.start(block);
        block.memory().set(ValueLayout.JAVA_BYTE, 3 * PAGE, (byte) 1);
        own.close();
        assertEquals(0, own.trackedBlocks());
        assertTrue(block.dirtyLog().get(3), "close collected the pending write");
        tracker.start(block); // the memory is free to be registered by another userfaultfd
        tracker.stop(block);
    }
}
