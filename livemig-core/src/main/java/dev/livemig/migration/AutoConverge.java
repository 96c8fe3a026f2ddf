package dev.livemig.migration;

import dev.livemig.machine.CpuThrottle;

import java.util.function.Supplier;

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
    private final Supplier<MigrationConfig> parameters;
    private long bytesSentBefore;
    private int highPeriods;

    /** {@code parameters}: the current ones; QEMU reads them at each period, so a change applies at once. */
    AutoConverge(CpuThrottle throttle, Supplier<MigrationConfig> parameters) {
        this.throttle = throttle;
        this.parameters = parameters;
    }

    AutoConverge(CpuThrottle throttle, MigrationConfig fixed) {
        this(throttle, () -> fixed);
    }

    /** {@code bytesSent}: RAM bytes sent since the migration started; {@code dirtyBytes}: dirtied in the period. */
    void periodEnded(long bytesSent, long dirtyBytes) {
        MigrationConfig p = parameters.get();
        long sentInPeriod = bytesSent - bytesSentBefore;
        bytesSentBefore = bytesSent;
        long dirtyThreshold = sentInPeriod * p.longValue(MigrationParameter.THROTTLE_TRIGGER_THRESHOLD) / 100;
        // as in QEMU, the count is not reset by a calm period: the second high period triggers
        if (dirtyBytes > dirtyThreshold && ++highPeriods >= 2) {
            highPeriods = 0;
            throttleDown(p, dirtyBytes, dirtyThreshold);
        }
    }

    private void throttleDown(MigrationConfig p, long dirtyBytes, long dirtyThreshold) {
        long initial = p.longValue(MigrationParameter.CPU_THROTTLE_INITIAL);
        long increment = p.longValue(MigrationParameter.CPU_THROTTLE_INCREMENT);
        boolean tailslow = p.booleanValue(MigrationParameter.CPU_THROTTLE_TAILSLOW);
        long max = p.longValue(MigrationParameter.MAX_CPU_THROTTLE);
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
