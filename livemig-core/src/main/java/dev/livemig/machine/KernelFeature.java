package dev.livemig.machine;

/**
 * A kernel feature livemig uses when the host offers it, each with a fallback that keeps migrations correct
 * without it. The {@link #key} names it in {@code -Dlivemig.disable=…} and in {@code livemig check}.
 */
public enum KernelFeature {
    /** userfaultfd asynchronous write protection (WP_ASYNC + WP_UNPOPULATED, Linux 6.7+) for dirty tracking. */
    USERFAULTFD_WP("userfaultfd-wp", "guest writes are tracked transparently",
            "dirty pages come from the application's RamBlock.markDirty calls only"),
    /** The PAGEMAP_SCAN ioctl (Linux 6.7+): written pages for the tracker, never-populated pages for zero pages. */
    PAGEMAP_SCAN("pagemap-scan", "never-populated pages are known zero without reading them",
            "every page is read to find zero pages; userfaultfd tracking is off too"),
    /** madvise(MADV_POPULATE_WRITE) (Linux 5.14+): a waiting destination faults its RAM in ahead of the stream. */
    POPULATE_WRITE("populate-write", "a waiting destination faults its RAM in before the stream arrives",
            "the destination faults each page in when it arrives"),
    /** Transparent huge pages for guest RAM (madvise(MADV_HUGEPAGE)), as QEMU asks for them. */
    TRANSPARENT_HUGEPAGES("thp", "guest RAM asks for transparent huge pages (MADV_HUGEPAGE): first touch, "
            + "write protection and page scans work 2 MiB at a time; a write into a protected huge page splits it, "
            + "so dirty tracking stays per 4 KiB page",
            "guest RAM is mapped in 4 KiB pages"),
    /** SO_ZEROCOPY / MSG_ZEROCOPY sends (Linux 4.14+ for TCP): capability zero-copy-send. */
    MSG_ZEROCOPY("msg-zerocopy", "capability zero-copy-send is available",
            "capability zero-copy-send fails the migration (\"Zero copy send feature not detected in host kernel\")");

    private final String key;
    private final String withIt;
    private final String without;

    KernelFeature(String key, String withIt, String without) {
        this.key = key;
        this.withIt = withIt;
        this.without = without;
    }

    /** The name users switch it off by. */
    public String key() {
        return key;
    }

    /** What livemig does with the feature. */
    public String withIt() {
        return withIt;
    }

    /** What livemig does instead when the feature is missing or switched off. */
    public String fallback() {
        return without;
    }
}
