package dev.livemig.ram;

import dev.livemig.machine.HostFeatures;
import dev.livemig.machine.KernelFeature;
import dev.livemig.linux.PagemapScan;
import dev.livemig.machine.DirtyBitmap;
import dev.livemig.machine.RamBlock;

/**
 * Which pages of a block may hold data, asked of the kernel (PAGEMAP_SCAN) instead of read: in private
 * anonymous memory a page that was never populated, or maps the shared zero page, reads as zero. The scan is
 * taken after dirty tracking is armed, so a page written after it is dirty and will be read when resent. Reading it
 * to find that out would fault it in, which is most of the cost of a zero page on both ends of a migration.
 */
final class PopulatedPages {
    private PopulatedPages() {
    }

    /**
     * A bitmap with a bit set for every page that may hold data, or null when that is unknown (file-backed
     * memory, a kernel without PAGEMAP_SCAN, or pagemap-scan switched off): then every page must be read.
     */
    static DirtyBitmap of(RamBlock block, HostFeatures features) {
        if (!block.isAnonymous() || !features.allows(KernelFeature.PAGEMAP_SCAN)) {
            return null;
        }
        var maybeData = new DirtyBitmap(block.targetPages());
        try (PagemapScan scan = PagemapScan.open()) {
            scan.scan(block.memory(), 0, PagemapScan.PAGE_IS_PRESENT, PagemapScan.PAGE_IS_PRESENT | PagemapScan.PAGE_IS_PFNZERO,
                    PagemapScan.DEFAULT_VECTOR_LENGTH, (from, to, categories) -> {
                        if ((categories & PagemapScan.PAGE_IS_PFNZERO) == 0) {
                            maybeData.setRange(from / RamBlock.TARGET_PAGE_SIZE, to / RamBlock.TARGET_PAGE_SIZE);
                        }
                    });
            if (swapActive()) {
                // a swapped-out page holds data; so may anything that looks swapped (userfaultfd's markers do)
                scan.scan(block.memory(), 0, PagemapScan.PAGE_IS_SWAPPED, PagemapScan.PAGE_IS_SWAPPED,
                        PagemapScan.DEFAULT_VECTOR_LENGTH, (from, to, categories) ->
                                maybeData.setRange(from / RamBlock.TARGET_PAGE_SIZE, to / RamBlock.TARGET_PAGE_SIZE));
            }
            return maybeData;
        } catch (RuntimeException | LinkageError e) {
            return null; // no kernel help: fall back to reading every page
        }
    }

    /**
     * True when a swap area is in use (or that cannot be told). Without swap, a page that is not present was
     * never populated; the write-protect markers of the userfaultfd tracker read as "swapped", so the swap scan
     * is skipped only when nothing can be in swap.
     */
    private static boolean swapActive() {
        try {
            return java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/swaps")).size() > 1;
        } catch (java.io.IOException | RuntimeException e) {
            return true;
        }
    }
}
