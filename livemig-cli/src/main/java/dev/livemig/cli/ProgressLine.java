package dev.livemig.cli;

import dev.livemig.migration.MigrationInfo;
import dev.livemig.migration.MigrationStatus;

/** One line of live migration progress, redrawn in place on a terminal. */
final class ProgressLine {
    private static final int WIDTH = 24;

    private ProgressLine() {
    }

    static String render(MigrationInfo info) {
        var ram = info.ram();
        if (ram == null) {
            return String.format("%-12s", info.status().qemuName());
        }
        long total = Math.max(ram.total(), 1);
        double done = Math.min(1.0, Math.max(0, 1.0 - (double) ram.remaining() / total));
        int filled = (int) Math.round(done * WIDTH);
        return String.format("%-12s [%s%s] %3.0f%% pass %d | sent %s, left %s | dirty %s/s | %.0f Mbps | expected downtime %d ms",
                info.status().qemuName(), "#".repeat(filled), "-".repeat(WIDTH - filled), done * 100, ram.dirtySyncCount(),
                Sizes.human(ram.transferred()), Sizes.human(ram.remaining()), Sizes.human(ram.dirtyPagesRate() * 4096),
                ram.mbps(), info.expectedDowntimeMs());
    }

    /**
     * HMP's `info migrate` text, at any stage: a figure the reply does not carry (-1, as before the first pass)
     * is left out. Unlike HMP, which prints nothing before the first migration, status none is shown.
     */
    static String summary(MigrationInfo info) {
        var sb = new StringBuilder();
        sb.append("Migration status: ").append(info.status().qemuName());
        if (info.errorDesc() != null) {
            sb.append(" (").append(info.errorDesc()).append(')');
        }
        sb.append('\n');
        line(sb, "total time", info.totalTimeMs());
        if (info.status() != MigrationStatus.COMPLETED) {
            line(sb, "expected downtime", info.expectedDowntimeMs());
        }
        line(sb, "downtime", info.downtimeMs());
        line(sb, "setup", info.setupTimeMs());
        var ram = info.ram();
        if (ram != null) {
            sb.append(String.format("transferred ram: %d kbytes%n", ram.transferred() / 1024));
            sb.append(String.format("throughput: %.2f mbps%n", ram.mbps()));
            sb.append(String.format("remaining ram: %d kbytes%n", ram.remaining() / 1024));
            sb.append(String.format("total ram: %d kbytes%n", ram.total() / 1024));
            sb.append(String.format("duplicate: %d pages%n", ram.duplicate()));
            sb.append(String.format("normal: %d pages%n", ram.normal()));
            sb.append(String.format("normal bytes: %d kbytes%n", ram.normalBytes() / 1024));
            sb.append(String.format("dirty sync count: %d%n", ram.dirtySyncCount()));
            sb.append(String.format("precopy ram: %d kbytes%n", ram.precopyBytes() / 1024));
            sb.append(String.format("downtime ram: %d kbytes%n", ram.downtimeBytes() / 1024));
            if (ram.postcopyBytes() > 0) { // HMP's wording; both only once postcopy started
                sb.append(String.format("postcopy ram: %d kbytes%n", ram.postcopyBytes() / 1024));
            }
            if (ram.postcopyRequests() > 0) {
                sb.append(String.format("postcopy request count: %d%n", ram.postcopyRequests()));
            }
        }
        var x = info.xbzrle();
        if (x != null) { // HMP's wording
            sb.append(String.format("cache size: %d bytes%n", x.cacheSize()));
            sb.append(String.format("xbzrle transferred: %d kbytes%n", x.bytes() >> 10));
            sb.append(String.format("xbzrle pages: %d pages%n", x.pages()));
            sb.append(String.format("xbzrle cache miss: %d pages%n", x.cacheMiss()));
            sb.append(String.format(java.util.Locale.ROOT, "xbzrle cache miss rate: %.2f%n", x.cacheMissRate()));
            sb.append(String.format(java.util.Locale.ROOT, "xbzrle encoding rate: %.2f%n", x.encodingRate()));
            sb.append(String.format("xbzrle overflow: %d%n", x.overflow()));
        }
        var c = info.compression();
        if (c != null) { // HMP's wording
            sb.append(String.format("compression pages: %d pages%n", c.pages()));
            sb.append(String.format("compression busy: %d%n", c.busy()));
            sb.append(String.format(java.util.Locale.ROOT, "compression busy rate: %.2f%n", c.busyRate()));
            sb.append(String.format("compressed size: %d kbytes%n", c.compressedSize() >> 10));
            sb.append(String.format(java.util.Locale.ROOT, "compression rate: %.2f%n", c.compressionRate()));
        }
        if (info.cpuThrottlePercentage() > 0) {
            sb.append(String.format("cpu throttle percentage: %d%n", info.cpuThrottlePercentage()));
        }
        return sb.toString();
    }

    private static void line(StringBuilder sb, String name, long ms) {
        if (ms >= 0) {
            sb.append(name).append(": ").append(ms).append(" ms\n");
        }
    }
}
