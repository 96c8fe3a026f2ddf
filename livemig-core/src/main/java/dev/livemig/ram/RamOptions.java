package dev.livemig.ram;

/**
 * How the "ram" handler encodes and decodes pages in one migration, taken from that migration's
 * capabilities and parameters (the migration layer builds it; this layer does not know MigrationConfig).
 * {@code compress}: QEMU's legacy multi-thread compression with {@code compressThreads} workers at
 * {@code compressLevel}; {@code compressWaitThread} false sends a page uncompressed when every worker is busy;
 * the destination inflates on {@code decompressThreads} workers. {@code xbzrle}: pages sent again after the
 * first round go as XBZRLE deltas against a cache of {@code xbzrleCacheSize} bytes. {@code zeroPages}: where zero
 * pages are found (zero-page-detection); null leaves it to the machine type, as QEMU's compat properties do.
 */
public record RamOptions(boolean compress, int compressLevel, int compressThreads, boolean compressWaitThread,
                         int decompressThreads, boolean xbzrle, long xbzrleCacheSize, ZeroPageDetection zeroPages) {
    /** Plain pages only (and QEMU's defaults for the compression and cache parameters). */
    public static final RamOptions PLAIN = new RamOptions(false, 1, 8, true, 2, false, 64L << 20);

    /** Zero pages as the machine type finds them. */
    public RamOptions(boolean compress, int compressLevel, int compressThreads, boolean compressWaitThread,
                      int decompressThreads, boolean xbzrle, long xbzrleCacheSize) {
        this(compress, compressLevel, compressThreads, compressWaitThread, decompressThreads, xbzrle, xbzrleCacheSize, null);
    }

    /** Compression settings only. */
    public RamOptions(boolean compress, int compressLevel, int compressThreads, boolean compressWaitThread,
                      int decompressThreads) {
        this(compress, compressLevel, compressThreads, compressWaitThread, decompressThreads, false, 64L << 20);
    }

    public RamOptions {
        if (compressLevel < 0 || compressLevel > 9 || compressThreads < 1 || compressThreads > 255
                || decompressThreads < 1 || decompressThreads > 255) {
            throw new IllegalArgumentException("compression parameters outside QEMU's ranges: " + this);
        }
    }
}
