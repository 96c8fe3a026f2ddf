package dev.livemig.linux;

import dev.livemig.host.HostAssumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** PAGEMAP_SCAN against the host's kernel, on memory armed with a WP_ASYNC userfaultfd (both Linux 6.7+). */
class PagemapScanTest {

    @BeforeEach
    void needsPagemapScanAndAsyncWriteProtect() {
        HostAssumptions.assumePagemapScan();
        HostAssumptions.assumeUserfaultfdWriteProtect();
    }

    private static final long PAGE = 4096;

    private record Run(long fromPage, long toPage) {
    }

    private static List<Run> collect(PagemapScan scan, MemorySegment mem, int vectorLength) {
        List<Run> runs = new ArrayList<>();
        long pages = scan.collectWritten(mem, vectorLength, (from, to, categories) -> {
            assertEquals(PagemapScan.PAGE_IS_WRITTEN, categories);
            runs.add(new Run(from / PAGE, to / PAGE));
        });
        assertEquals(runs.stream().mapToLong(r -> r.toPage - r.fromPage).sum(), pages);
        return runs;
    }

    @Test
    void reportsWrittenRunsAndProtectsThemAgain() {
        try (Arena arena = Arena.ofConfined(); Userfaultfd uffd = Userfaultfd.openWpAsync(); PagemapScan scan = PagemapScan.open()) {
            MemorySegment mem = Mmap.anonymous(arena, 64 * PAGE);
            mem.set(ValueLayout.JAVA_BYTE, 6 * PAGE, (byte) 1); // populated before arming: must not count
            uffd.registerWriteProtect(mem);
            uffd.writeProtect(mem, true);
            assertEquals(List.of(), collect(scan, mem, 16));
            for (long p : new long[] {0, 5, 6, 7, 40, 63}) {
                mem.set(ValueLayout.JAVA_INT, p * PAGE + 100, 1);
            }
            assertEquals(List.of(new Run(0, 1), new Run(5, 8), new Run(40, 41), new Run(63, 64)), collect(scan, mem, 16));
            assertEquals(List.of(), collect(scan, mem, 16), "the scan re-protected what it reported");
            mem.set(ValueLayout.JAVA_INT, 6 * PAGE, 2);
            assertEquals(List.of(new Run(6, 7)), collect(scan, mem, 16));
        }
    }

    @Test
    void aFullOutputVectorContinuesFromWalkEnd() {
        try (Arena arena = Arena.ofConfined(); Userfaultfd uffd = Userfaultfd.openWpAsync(); PagemapScan scan = PagemapScan.open()) {
            MemorySegment mem = Mmap.anonymous(arena, 4096 * PAGE);
            uffd.registerWriteProtect(mem);
            uffd.writeProtect(mem, true);
            List<Run> expected = new ArrayList<>();
            for (long p = 1; p < 4096; p += 3) { // 1365 separate runs: > one kernel bounce buffer (512)
                mem.set(ValueLayout.JAVA_BYTE, p * PAGE, (byte) 1);
                expected.add(new Run(p, p + 1));
            }
            assertEquals(expected, collect(scan, mem, 1));
            for (long p = 1; p < 4096; p += 3) {
                mem.set(ValueLayout.JAVA_BYTE, p * PAGE, (byte) 2);
            }
            assertEquals(expected, collect(scan, mem, 7));
            for (long p = 1; p < 4096; p += 3) {
                mem.set(ValueLayout.JAVA_BYTE, p * PAGE, (byte) 3);
            }
            assertEquals(expected, collect(scan, mem, PagemapScan.DEFAULT_VECTOR_LENGTH));
            assertEquals(List.of(), collect(scan, mem, 1));
        }
    }

    @Test
    void memoryWithoutAsyncWriteProtectIsRefusedNotSkipped() {
        try (Arena arena = Arena.ofConfined(); PagemapScan scan = PagemapScan.open()) {
            MemorySegment mem = Mmap.anonymous(arena, 8 * PAGE);
            mem.set(ValueLayout.JAVA_BYTE, 0, (byte) 1);
            var e = assertThrows(NativeCallException.class, () -> collect(scan, mem, 16));
            assertEquals(1, e.errno(), "EPERM: " + e.getMessage());
            assertTrue(e.getMessage().startsWith("ioctl(PAGEMAP_SCAN) failed"), e.getMessage());
        }
    }

    @Test
    void plainQueriesNeitherRequireNorChangeProtection() {
        try (Arena arena = Arena.ofConfined(); Userfaultfd uffd = Userfaultfd.openWpAsync(); PagemapScan scan = PagemapScan.open()) {
            MemorySegment mem = Mmap.anonymous(arena, 8 * PAGE);
            mem.set(ValueLayout.JAVA_BYTE, 2 * PAGE, (byte) 1);
            List<Run> present = new ArrayList<>();
            scan.scan(mem, 0, PagemapScan.PAGE_IS_PRESENT, PagemapScan.PAGE_IS_PRESENT, 16,
                    (from, to, c) -> present.add(new Run(from / PAGE, to / PAGE)));
            assertEquals(List.of(new Run(2, 3)), present);
            long[] allowed = new long[1];
            PagemapScan.RangeSink countAllowed = (from, to, c) -> allowed[0] += (to - from) / PAGE;
            scan.scan(mem, 0, PagemapScan.PAGE_IS_WPALLOWED, PagemapScan.PAGE_IS_WPALLOWED, 16, countAllowed);
            assertEquals(0, allowed[0]);
            uffd.registerWriteProtect(mem);
            scan.scan(mem, 0, PagemapScan.PAGE_IS_WPALLOWED, PagemapScan.PAGE_IS_WPALLOWED, 16, countAllowed);
            assertEquals(8, allowed[0]);
        }
    }

    @Test
    void misalignedRangesAreRefusedBeforeTheKernel() {
        try (Arena arena = Arena.ofConfined(); PagemapScan scan = PagemapScan.open()) {
            MemorySegment mem = Mmap.anonymous(arena, 2 * PAGE);
            assertThrows(IllegalArgumentException.class, () -> scan.collectWritten(mem.asSlice(8, PAGE), (f, t, c) -> { }));
            assertThrows(IllegalArgumentException.class, () -> scan.collectWritten(mem, 0, (f, t, c) -> { }));
        }
    }
}
