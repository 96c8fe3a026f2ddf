package dev.livemig.savevm;

import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;

/**
 * The most guest RAM a stream may declare before anything is allocated or created for it. A stream's
 * MEM_SIZE block list is untrusted: a few hundred bytes can announce a terabyte, and every reader that sizes
 * memory, a file or a machine by it ({@code livemig record}, {@link Snapshots#shape}, analyze) checks each
 * block against the ceiling as it is read, so a refusal comes before the first byte is allocated. The
 * default is the host's physical memory: a guest larger than the host cannot have been meant for it.
 */
public record RamCeiling(long bytes) {
    public RamCeiling {
        if (bytes <= 0) {
            throw new IllegalArgumentException("RAM ceiling must be positive: " + bytes);
        }
    }

    /** The host's physical memory, as the operating system reports it (a container's limit inside one). */
    public static RamCeiling host() {
        var os = java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean sun && sun.getTotalMemorySize() > 0) {
            return new RamCeiling(sun.getTotalMemorySize());
        }
        // no figure from the OS: the JVM's own limit, which no block larger than it could be loaded past anyway
        return new RamCeiling(Math.max(Runtime.getRuntime().maxMemory(), 1L << 30));
    }

    /**
     * Admits a block of a block list read at {@code at}: refuses it, before the caller allocates anything, when
     * it or the blocks before it with it ({@code sumBefore}) exceed the ceiling.
     */
    public void admit(StreamReader in, long at, String block, long length, long sumBefore) throws MigrationException {
        if (length > bytes || sumBefore > bytes - length) {
            throw in.errorAt(at, "stream declares more RAM than the ceiling: block=" + MigrationException.quote(block)
                    + " declared=" + length + " (" + human(length) + ") blocks-before=" + sumBefore
                    + " ceiling=" + bytes + " (" + human(bytes) + "); a larger ceiling is an explicit choice (--max-ram)");
        }
    }

    /** Binary units, one decimal: what an operator compares with free -h. */
    static String human(long n) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        double v = n;
        int u = 0;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return u == 0 ? n + " B" : String.format(java.util.Locale.ROOT, "%.1f %s", v, units[u]);
    }
}
