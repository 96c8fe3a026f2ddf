package dev.livemig.migration;

import dev.livemig.json.Json;

/**
 * A query-migrate reply (§14.5) with QEMU's member names. Times are milliseconds; -1 means "not reported".
 * {@code cpuThrottlePercentage} is auto-converge's current throttle, 0 (and absent from the reply) when the
 * guest is not throttled.
 */
public record MigrationInfo(MigrationStatus status, long totalTimeMs, long setupTimeMs, long downtimeMs,
                            long expectedDowntimeMs, RamStats ram, String errorDesc, int cpuThrottlePercentage) {

    /** QEMU's MigrationStats for RAM (§7.12). */
    public record RamStats(long transferred, long remaining, long total, long duplicate, long normal,
                           long normalBytes, long dirtyPagesRate, double mbps, long dirtySyncCount,
                           long precopyBytes, long downtimeBytes, long pagesPerSecond) {
        Json toJson() {
            return Json.object()
                    .put("transferred", transferred)
                    .put("remaining", remaining)
                    .put("total", total)
                    .put("duplicate", duplicate)
                    .put("skipped", 0)
                    .put("normal", normal)
                    .put("normal-bytes", normalBytes)
                    .put("dirty-pages-rate", dirtyPagesRate)
                    .put("mbps", new Json.Num(String.format(java.util.Locale.ROOT, "%.4f", mbps)))
                    .put("dirty-sync-count", dirtySyncCount)
                    .put("postcopy-requests", 0)
                    .put("page-size", 4096)
                    .put("multifd-bytes", 0)
                    .put("pages-per-second", pagesPerSecond)
                    .put("precopy-bytes", precopyBytes)
                    .put("downtime-bytes", downtimeBytes)
                    .put("postcopy-bytes", 0)
                    .put("dirty-sync-missed-zero-copy", 0)
                    .build();
        }
    }

    /** The reply object, members present as QEMU decides (§14.5). */
    public Json.Obj toJson() {
        var o = Json.object();
        if (status == MigrationStatus.NONE) {
            return o.build();
        }
        o.put("status", status.qemuName());
        if (ram != null) {
            o.put("total-time", totalTimeMs).put("setup-time", setupTimeMs);
            if (status != MigrationStatus.COMPLETED) {
                o.put("expected-downtime", expectedDowntimeMs);
            } else {
                o.put("downtime", downtimeMs);
            }
            o.put("ram", ram.toJson());
        }
        if (cpuThrottlePercentage > 0) {
            o.put("cpu-throttle-percentage", cpuThrottlePercentage);
        }
        if (errorDesc != null) {
            o.put("error-desc", errorDesc);
        }
        return o.build();
    }
}
