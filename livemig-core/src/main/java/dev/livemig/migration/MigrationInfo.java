package dev.livemig.migration;

import dev.livemig.json.Json;

/**
 * A query-migrate reply (§14.5) with QEMU's member names. Times are milliseconds; -1 means "not reported".
 * {@code cpuThrottlePercentage} is auto-converge's current throttle, 0 (and absent from the reply) when the
 * guest is not throttled.
 */
public record MigrationInfo(MigrationStatus status, long totalTimeMs, long setupTimeMs, long downtimeMs,
                            long expectedDowntimeMs, RamStats ram, String errorDesc, int cpuThrottlePercentage,
                            CompressionStats compression, XbzrleStats xbzrle, PostcopyBlocktime postcopyBlocktime) {

    /** Without postcopy blocktime (a source, or a destination without capability postcopy-blocktime). */
    public MigrationInfo(MigrationStatus status, long totalTimeMs, long setupTimeMs, long downtimeMs,
                         long expectedDowntimeMs, RamStats ram, String errorDesc, int cpuThrottlePercentage,
                         CompressionStats compression, XbzrleStats xbzrle) {
        this(status, totalTimeMs, setupTimeMs, downtimeMs, expectedDowntimeMs, ram, errorDesc, cpuThrottlePercentage,
                compression, xbzrle, null);
    }

    /**
     * A destination's postcopy-blocktime and postcopy-vcpu-blocktime (milliseconds, QEMU's uint32): per guest
     * thread that waited for a page, in the order they first faulted, the time it waited; and the total. QEMU's
     * total is the time during which every vCPU waited at once; a JVM has no fixed set of vCPUs, so livemig's is
     * the time during which at least one guest thread waited (the same for a guest of one thread).
     */
    public record PostcopyBlocktime(long totalMs, java.util.List<Long> perThreadMs) {
        public PostcopyBlocktime {
            perThreadMs = java.util.List.copyOf(perThreadMs);
        }
    }

    /** Without xbzrle statistics (capability xbzrle off). */
    public MigrationInfo(MigrationStatus status, long totalTimeMs, long setupTimeMs, long downtimeMs,
                         long expectedDowntimeMs, RamStats ram, String errorDesc, int cpuThrottlePercentage,
                         CompressionStats compression) {
        this(status, totalTimeMs, setupTimeMs, downtimeMs, expectedDowntimeMs, ram, errorDesc, cpuThrottlePercentage,
                compression, null);
    }

    /**
     * QEMU's XBZRLECacheStats: the cache size, delta bytes, cache hits (pages), misses and overflows. The two
     * rates cover the whole migration (QEMU reports its last dirty-rate period).
     */
    public record XbzrleStats(long cacheSize, long bytes, long pages, long cacheMiss, long overflow) {
        /** Misses among all lookups (hits and misses), 0 to 1; 0 before any. */
        public double cacheMissRate() {
            return pages + cacheMiss == 0 ? 0 : (double) cacheMiss / (pages + cacheMiss);
        }

        /** Page bytes per delta byte sent (4 KiB pages), 0 before any: how much xbzrle saves. */
        public double encodingRate() {
            return bytes == 0 ? 0 : (double) pages * 4096 / bytes;
        }

        Json toJson() {
            return Json.object().put("cache-size", cacheSize).put("bytes", bytes).put("pages", pages)
                    .put("cache-miss", cacheMiss)
                    .put("cache-miss-rate", new Json.Num(String.format(java.util.Locale.ROOT, "%.4f", cacheMissRate())))
                    .put("encoding-rate", new Json.Num(String.format(java.util.Locale.ROOT, "%.4f", encodingRate())))
                    .put("overflow", overflow).build();
        }
    }

    /** Without compression statistics (capability compress off). */
    public MigrationInfo(MigrationStatus status, long totalTimeMs, long setupTimeMs, long downtimeMs,
                         long expectedDowntimeMs, RamStats ram, String errorDesc, int cpuThrottlePercentage) {
        this(status, totalTimeMs, setupTimeMs, downtimeMs, expectedDowntimeMs, ram, errorDesc, cpuThrottlePercentage, null, null);
    }

    /**
     * QEMU's CompressionStats (capability compress): pages sent compressed, how often no compression thread
     * was free, and payload bytes. livemig reports the two rates over the whole migration, where QEMU
     * reports them over its last dirty-rate period.
     */
    public record CompressionStats(long pages, long busy, long compressedSize) {
        /** How often no thread was free, among all pages offered (compressed or busy), 0 to 1; 0 before any. */
        public double busyRate() {
            return pages + busy == 0 ? 0 : (double) busy / (pages + busy);
        }

        /** Page bytes per compressed byte (4 KiB pages), 0 before any: the compression ratio. */
        public double compressionRate() {
            return compressedSize == 0 ? 0 : (double) pages * 4096 / compressedSize;
        }

        Json toJson() {
            return Json.object().put("pages", pages).put("busy", busy)
                    .put("busy-rate", new Json.Num(String.format(java.util.Locale.ROOT, "%.4f", busyRate())))
                    .put("compressed-size", compressedSize)
                    .put("compression-rate", new Json.Num(String.format(java.util.Locale.ROOT, "%.4f", compressionRate())))
                    .build();
        }
    }

    /** QEMU's MigrationStats for RAM (§7.12). */
    public record RamStats(long transferred, long remaining, long total, long duplicate, long normal,
                           long normalBytes, long dirtyPagesRate, double mbps, long dirtySyncCount,
                           long precopyBytes, long downtimeBytes, long pagesPerSecond, long multifdBytes,
                           long dirtySyncMissedZeroCopy, long postcopyRequests, long postcopyBytes) {
        /** Without postcopy figures. */
        public RamStats(long transferred, long remaining, long total, long duplicate, long normal, long normalBytes,
                        long dirtyPagesRate, double mbps, long dirtySyncCount, long precopyBytes, long downtimeBytes,
                        long pagesPerSecond, long multifdBytes, long dirtySyncMissedZeroCopy) {
            this(transferred, remaining, total, duplicate, normal, normalBytes, dirtyPagesRate, mbps, dirtySyncCount,
                    precopyBytes, downtimeBytes, pagesPerSecond, multifdBytes, dirtySyncMissedZeroCopy, 0, 0);
        }

        /** Without multifd and zero-copy-send figures. */
        public RamStats(long transferred, long remaining, long total, long duplicate, long normal, long normalBytes,
                        long dirtyPagesRate, double mbps, long dirtySyncCount, long precopyBytes, long downtimeBytes,
                        long pagesPerSecond) {
            this(transferred, remaining, total, duplicate, normal, normalBytes, dirtyPagesRate, mbps, dirtySyncCount,
                    precopyBytes, downtimeBytes, pagesPerSecond, 0, 0);
        }

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
                    .put("postcopy-requests", postcopyRequests)
                    .put("page-size", 4096)
                    .put("multifd-bytes", multifdBytes)
                    .put("pages-per-second", pagesPerSecond)
                    .put("precopy-bytes", precopyBytes)
                    .put("downtime-bytes", downtimeBytes)
                    .put("postcopy-bytes", postcopyBytes)
                    .put("dirty-sync-missed-zero-copy", dirtySyncMissedZeroCopy)
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
        if (status == MigrationStatus.FAILED || status == MigrationStatus.CANCELLED) {
            // QEMU 7.2's fill_source_migration_info: an ended, unsuccessful migration shows its status and,
            // when failed, why; its figures are gone
            return errorDesc != null && status == MigrationStatus.FAILED ? o.put("error-desc", errorDesc).build() : o.build();
        }
        if (ram != null) {
            o.put("total-time", totalTimeMs).put("setup-time", setupTimeMs);
            if (status != MigrationStatus.COMPLETED) {
                o.put("expected-downtime", expectedDowntimeMs);
            } else {
                o.put("downtime", downtimeMs);
            }
            o.put("ram", ram.toJson());
        }
        if (xbzrle != null && ram != null) {
            o.put("xbzrle-cache", xbzrle.toJson());
        }
        if (compression != null && ram != null) {
            o.put("compression", compression.toJson());
        }
        if (cpuThrottlePercentage > 0) {
            o.put("cpu-throttle-percentage", cpuThrottlePercentage);
        }
        if (errorDesc != null) {
            o.put("error-desc", errorDesc);
        }
        if (postcopyBlocktime != null) {
            o.put("postcopy-blocktime", postcopyBlocktime.totalMs());
            var each = new java.util.ArrayList<Json>();
            postcopyBlocktime.perThreadMs().forEach(ms -> each.add(new Json.Num(Long.toString(ms))));
            o.put("postcopy-vcpu-blocktime", new Json.Arr(each));
        }
        return o.build();
    }
}
