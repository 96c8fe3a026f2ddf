package dev.livemig.migration;

/**
 * QEMU's rate limit and bandwidth measurement (§7.10): time is cut into 100 ms windows; each may carry
 * max-bandwidth / 10 bytes (0 = unlimited); at the end of a window the bandwidth it achieved gives the
 * switchover threshold (bandwidth × downtime-limit), mbps and pages per second. Used by the migration
 * thread only; the figures are published through volatile fields for statistics readers.
 */
final class TransferWindow {
    static final long WINDOW_NS = 100_000_000L;

    // changed by QMP while the migration runs (QEMU applies both at once), read by the migration thread
    private volatile long budgetPerWindow; // 0 = unlimited
    private volatile long downtimeLimitMs;
    private volatile long availSwitchoverBandwidth; // bytes/s; 0 = use the measured bandwidth
    private final long start;
    private long totalBytes;
    private long windowStart;
    private long windowBytes;
    private long windowPages;
    private volatile double bandwidthBytesPerMs; // 0 until the first window closes
    private volatile double mbps;
    private volatile long pagesPerSecond;

    TransferWindow(long maxBandwidth, long downtimeLimitMs, long now) {
        this(maxBandwidth, downtimeLimitMs, 0, now);
    }

    /** {@code availSwitchoverBandwidth}: avail-switchover-bandwidth (bytes/s), 0 to use what is measured. */
    TransferWindow(long maxBandwidth, long downtimeLimitMs, long availSwitchoverBandwidth, long now) {
        retune(maxBandwidth, downtimeLimitMs, availSwitchoverBandwidth);
        this.windowStart = now;
        this.start = now;
    }

    /** New limits from the next window check on; the figures measured so far stay. */
    void retune(long maxBandwidth, long downtimeLimitMs, long availSwitchoverBandwidth) {
        this.budgetPerWindow = maxBandwidth / 10;
        this.downtimeLimitMs = downtimeLimitMs;
        this.availSwitchoverBandwidth = availSwitchoverBandwidth;
    }

    /** Bytes still allowed in the current window; Long.MAX_VALUE when unlimited, 0 when spent. */
    long budget() {
        if (budgetPerWindow == 0) {
            return Long.MAX_VALUE;
        }
        return Math.max(0, budgetPerWindow - windowBytes);
    }

    void account(long bytes, long pages) {
        windowBytes += bytes;
        windowPages += pages;
        totalBytes += bytes;
    }

    /** Nanoseconds until the current window ends (0 if it has). */
    long untilWindowEnd(long now) {
        return Math.max(0, windowStart + WINDOW_NS - now);
    }

    /** Closes the window if 100 ms have passed; returns true when it did (figures were updated). */
    boolean roll(long now) {
        long elapsed = now - windowStart;
        if (elapsed < WINDOW_NS) {
            return false;
        }
        double ms = elapsed / 1e6;
        // A window can look faster than the path really is (socket buffers absorb a burst); switching over on
        // that figure overshoots the downtime limit. The whole-migration average damps it.
        double average = totalBytes / ((now - start) / 1e6);
        bandwidthBytesPerMs = Math.min(windowBytes / ms, average);
        mbps = windowBytes * 8 / (ms / 1000) / 1e6;
        pagesPerSecond = (long) (windowPages / (ms / 1000));
        windowStart = now;
        windowBytes = 0;
        windowPages = 0;
        return true;
    }

    /**
     * Bytes that can be sent within the downtime limit at the measured bandwidth (0 before any measurement), or
     * at avail-switchover-bandwidth when set: QEMU 8.2's way to say how much of the link the switchover may use
     * when the precopy rate (rate-limited, or shared) says too little.
     */
    long threshold() {
        long avail = availSwitchoverBandwidth;
        if (avail > 0) {
            return (long) Math.min(Long.MAX_VALUE, (double) avail * downtimeLimitMs / 1000);
        }
        return (long) (bandwidthBytesPerMs * downtimeLimitMs);
    }

    double bandwidthBytesPerMs() {
        return bandwidthBytesPerMs;
    }

    double mbps() {
        return mbps;
    }

    long pagesPerSecond() {
        return pagesPerSecond;
    }
}
