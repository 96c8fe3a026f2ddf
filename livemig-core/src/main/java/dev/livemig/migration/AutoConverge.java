package dev.livemig.migration;

import dev.livemig.machine.CpuThrottle;

/**
 * QEMU 7.2's auto-converge decision, taken at the end of each dirty-rate period (a bitmap sync at least one
 * second after the previous period ended): when the guest dirtied more than throttle-trigger-threshold % of
 * the bytes sent in the period, for the second time since the last change, throttle it harder. The first
 * step sets cpu-throttle-initial; later steps add cpu-throttle-increment, or with cpu-throttle-tailslow only
 * what should bring the dirty rate down to the threshold; never above max-cpu-throttle. Used by the
 * migration thread only.
 */
final class AutoConverge {
    private final CpuThrottle throttle;
    private final long initial;
    private final long increment;
    private final boolean tailslow;
    private final long max;
    private final long triggerPercent;
    private long bytesSentBefore;
    private int highPeriods;

    AutoConverge(CpuThrottle throttle, MigrationConfig config) {
        this.throttle = throttle;
        this.initial = config.longValue(MigrationParameter.CPU_THROTTLE_INITIAL);
        this.increment = config.longValue(MigrationParameter.CPU_THROTTLE_INCREMENT);
        this.tailslow = config.booleanValue(MigrationParameter.CPU_THROTTLE_TAILSLOW);
        this.max = config.longValue(MigrationParameter.MAX_CPU_THROTTLE);
        this.triggerPercent = config.longValue(MigrationParameter.THROTTLE_TRIGGER_THRESHOLD);
    }

    /** {@code bytesSent}: RAM bytes sent since the migration started; {@code dirtyBytes}: dirtied in the period. */
    void periodEnded(long bytesSent, long dirtyBytes) {
        long sentInPeriod = bytesSent - bytesSentBefore;
        bytesSentBefore = bytesSent;
        long dirtyThreshold = sentInPeriod * triggerPercent / 100;
        // as in QEMU, the count is not reset by a calm period: the second high period triggers
        if (dirtyBytes > dirtyThreshold && ++highPeriods >= 2) {
            highPeriods = 0;
            throttleDown(dirtyBytes, dirtyThreshold);
        }
    }

    private void throttleDown(long dirtyBytes, long dirtyThreshold) {
        if (!throttle.active()) {
            throttle.set((int) initial);
            return;
        }
        long now = throttle.percentage();
        long step = increment;
        if (tailslow) {
            // the CPU share that would make the dirty rate meet the threshold, truncated as QEMU's uint64 is
            long cpuNow = 100 - now;
            long cpuIdeal = (long) (cpuNow * ((double) dirtyThreshold / dirtyBytes));
            step = Math.min(cpuNow - cpuIdeal, increment);
        }
        throttle.set((int) Math.min(now + step, max));
    }
}
