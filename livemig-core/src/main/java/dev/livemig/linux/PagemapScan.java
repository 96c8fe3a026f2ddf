package dev.livemig.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The PAGEMAP_SCAN ioctl (Linux 6.7+) on this process's {@code /proc/self/pagemap}: walks the page tables
 * of a range and reports runs of pages by category, optionally write-protecting what it reports in the
 * same walk, under the page-table lock of each run (so no write can slip between "reported" and
 * "protected again").
 *
 * <p>Used by the userfaultfd dirty tracker at every sync, from the migration thread; any thread may scan
 * concurrently (each scan has its own output vector), but {@link #close()} must not race with a scan.
 * Struct layouts and constants are those of include/uapi/linux/fs.h.
 */
public final class PagemapScan implements AutoCloseable {
    /** The page is in a VMA registered with an async write-protect userfaultfd. */
    public static final long PAGE_IS_WPALLOWED = 1 << 0;
    /** The page was written since it was last write-protected (its uffd-wp bit is clear). */
    public static final long PAGE_IS_WRITTEN = 1 << 1;
    public static final long PAGE_IS_FILE = 1 << 2;
    public static final long PAGE_IS_PRESENT = 1 << 3;
    public static final long PAGE_IS_SWAPPED = 1 << 4;
    public static final long PAGE_IS_PFNZERO = 1 << 5;
    public static final long PAGE_IS_HUGE = 1 << 6;
    public static final long PAGE_IS_SOFT_DIRTY = 1 << 7;

    /** Write-protect the pages that matched (and were reported). */
    public static final long PM_SCAN_WP_MATCHING = 1 << 0;
    /** Fail with EPERM on a VMA without async write protection instead of skipping it silently. */
    public static final long PM_SCAN_CHECK_WPASYNC = 1 << 1;

    /** Output vector length used by {@link #collectWritten(MemorySegment, RangeSink)}: 96 KiB of regions. */
    public static final int DEFAULT_VECTOR_LENGTH = 4096;

    private static final long PAGE_SIZE = 4096;
    // struct pm_scan_arg: twelve u64 = 96 bytes
    private static final long ARG_SIZE = 96;
    private static final long OFF_SIZE = 0, OFF_FLAGS = 8, OFF_START = 16, OFF_END = 24, OFF_WALK_END = 32,
            OFF_VEC = 40, OFF_VEC_LEN = 48, OFF_MAX_PAGES = 56, OFF_CATEGORY_INVERTED = 64,
            OFF_CATEGORY_MASK = 72, OFF_CATEGORY_ANYOF_MASK = 80, OFF_RETURN_MASK = 88;
    // struct page_region {u64 start, end, categories}
    private static final long REGION_SIZE = 24;
    private static final long PAGEMAP_SCAN = Libc.ioc(3, 'f', 16, ARG_SIZE);

    /** Receives one run of pages: byte offsets [from, to) relative to the scanned range. */
    @FunctionalInterface
    public interface RangeSink {
        void accept(long from, long to, long categories);
    }

    private final FileDescriptorHolder fd;

    private PagemapScan(int fd) {
        this.fd = new FileDescriptorHolder(this, "/proc/self/pagemap", fd);
    }

    public static PagemapScan open() {
        return new PagemapScan(Libc.open("/proc/self/pagemap", Libc.O_RDONLY | Libc.O_CLOEXEC));
    }

    /**
     * Reports the pages of {@code range} written since they were last protected and protects them again;
     * fails with EPERM if part of the range is not registered for async write protection.
     *
     * @return the number of pages reported
     */
    public long collectWritten(MemorySegment range, RangeSink sink) {
        return collectWritten(range, DEFAULT_VECTOR_LENGTH, sink);
    }

    /** As {@link #collectWritten(MemorySegment, RangeSink)} with an output vector of {@code vectorLength} runs. */
    public long collectWritten(MemorySegment range, int vectorLength, RangeSink sink) {
        return scan(range, PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN,
                vectorLength, sink);
    }

    /**
     * One PAGEMAP_SCAN over the whole of {@code range}, reissued from {@code walk_end} whenever the output
     * vector fills up (the kernel stops there and, with {@link #PM_SCAN_WP_MATCHING}, has protected only
     * what it reported). A page matches when it has every category of {@code categoryMask}.
     *
     * <p>If the ioctl fails part-way, the runs it already wrote out (and therefore already re-protected)
     * are still passed to {@code sink} before the exception is thrown, so that no write is lost.
     *
     * @return the number of pages reported
     * @throws NativeCallException naming PAGEMAP_SCAN and its errno
     */
    public long scan(MemorySegment range, long flags, long categoryMask, long returnMask, int vectorLength,
                     RangeSink sink) {
        long base = range.address();
        long end = base + range.byteSize();
        if (base % PAGE_SIZE != 0 || range.byteSize() % PAGE_SIZE != 0) {
            throw new IllegalArgumentException("scan range must be page aligned: 0x" + Long.toHexString(base)
                    + "+0x" + Long.toHexString(range.byteSize()));
        }
        if (vectorLength < 1) {
            throw new IllegalArgumentException("output vector length must be positive: " + vectorLength);
        }
        long pages = 0;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment arg = a.allocate(ARG_SIZE, 8);
            MemorySegment vec = a.allocate(REGION_SIZE * vectorLength, 8); // zeroed: end == 0 marks "unused"
            long cur = base;
            while (cur < end) {
                arg.fill((byte) 0);
                arg.set(ValueLayout.JAVA_LONG, OFF_SIZE, ARG_SIZE);
                arg.set(ValueLayout.JAVA_LONG, OFF_FLAGS, flags);
                arg.set(ValueLayout.JAVA_LONG, OFF_START, cur);
                arg.set(ValueLayout.JAVA_LONG, OFF_END, end);
                arg.set(ValueLayout.JAVA_LONG, OFF_VEC, vec.address());
                arg.set(ValueLayout.JAVA_LONG, OFF_VEC_LEN, vectorLength);
                arg.set(ValueLayout.JAVA_LONG, OFF_MAX_PAGES, 0L); // 0 = no limit
                arg.set(ValueLayout.JAVA_LONG, OFF_CATEGORY_INVERTED, 0L);
                arg.set(ValueLayout.JAVA_LONG, OFF_CATEGORY_MASK, categoryMask);
                arg.set(ValueLayout.JAVA_LONG, OFF_CATEGORY_ANYOF_MASK, 0L);
                arg.set(ValueLayout.JAVA_LONG, OFF_RETURN_MASK, returnMask);
                long rc = Libc.ioctlOrErrno(fd.fd(), PAGEMAP_SCAN, arg);
                long filled = rc >= 0 ? rc : countFilled(vec, vectorLength);
                for (long i = 0; i < filled; i++) {
                    long from = vec.get(ValueLayout.JAVA_LONG, i * REGION_SIZE);
                    long to = vec.get(ValueLayout.JAVA_LONG, i * REGION_SIZE + 8);
                    long categories = vec.get(ValueLayout.JAVA_LONG, i * REGION_SIZE + 16);
                    pages += (to - from) / PAGE_SIZE;
                    sink.accept(from - base, to - base, categories);
                }
                if (rc < 0) {
                    throw new NativeCallException("ioctl(PAGEMAP_SCAN)", (int) -rc);
                }
                vec.asSlice(0, filled * REGION_SIZE).fill((byte) 0);
                long walkEnd = arg.get(ValueLayout.JAVA_LONG, OFF_WALK_END);
                if (walkEnd <= cur || walkEnd > end) {
                    // Cannot happen per the kernel's contract; looping on it would spin forever.
                    throw new IllegalStateException("PAGEMAP_SCAN made no progress: walk_end 0x"
                            + Long.toHexString(walkEnd) + " for a walk from 0x" + Long.toHexString(cur));
                }
                cur = walkEnd;
            }
        }
        return pages;
    }

    /** Runs the kernel copied out before failing: the leading entries with a non-zero end. */
    private static long countFilled(MemorySegment vec, int vectorLength) {
        long n = 0;
        while (n < vectorLength && vec.get(ValueLayout.JAVA_LONG, n * REGION_SIZE + 8) != 0) {
            n++;
        }
        return n;
    }

    @Override
    public void close() {
        fd.close();
    }
}
