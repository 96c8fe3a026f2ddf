package dev.livemig.ram;

/**
 * How the "ram" handler encodes and decodes pages in one migration, taken from that migration's
 * capabilities and parameters (the migration layer builds it; this layer does not know MigrationConfig).
 * {@code compress}: QEMU's legacy multi-thread compression with {@code compressThreads} workers at
 * {@code compressLevel}; {@code compressWaitThread} false sends a page uncompressed when every worker is busy;
 * the destination inflates on {@code decompressThreads} workers.
 */
public record RamOptions(boolean compress, int compressLevel, int compressThreads, boolean compressWaitThread,
                         int decompressThreads) {
    /** Plain pages only (and QEMU's defaults for the compression parameters). */
    public static final RamOptions PLAIN = new RamOptions(false, 1, 8, true, 2);

    public RamOptions {
        if (compressLevel < 0 || compressLevel > 9 || compressThreads < 1 || compressThreads > 255
                || decompressThreads < 1 || decompressThreads > 255) {
            throw new IllegalArgumentException("compression parameters outside QEMU's ranges: " + this);
        }
    }
}
