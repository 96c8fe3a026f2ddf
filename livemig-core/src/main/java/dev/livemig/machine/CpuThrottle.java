package dev.livemig.machine;

import java.util.concurrent.TimeUnit;

/**
 * QEMU's CPU throttle for a machine whose "vCPUs" are the application's threads: a percentage (1 to 99) of
 * time the guest must not run, set by auto-converge while a migration struggles and cleared when it ends.
 * QEMU makes each vCPU sleep {@code pct / (1 - pct)} of a 10 ms timeslice for every timeslice it runs;
 * livemig cannot preempt Java threads, so each mutator holds a {@link Pacer} and calls {@link Pacer#pace()}
 * where it may sleep, and the pacer applies the same rule. The guest then runs (100 - pct)% of the time.
 */
public final class CpuThrottle {
    /** QEMU's CPU_THROTTLE_TIMESLICE_NS. */
    public static final long TIMESLICE_NS = 10_000_000L;
    static final int MIN_PERCENTAGE = 1;
    static final int MAX_PERCENTAGE = 99;

    /** A throttle at 0 % (a {@link Machine} has one; tests of pacing make their own). */
    public CpuThrottle() {
    }

    private volatile int percentage; // 0 = not throttling

    /** Starts or changes throttling, clamped to 1..99 as QEMU's cpu_throttle_set does. */
    public void set(int pct) {
        percentage = Math.clamp(pct, MIN_PERCENTAGE, MAX_PERCENTAGE);
    }

    /** Ends throttling: pacers stop sleeping from their next {@link Pacer#pace()}. */
    public void stop() {
        percentage = 0;
    }

    /** Whether a percentage is set. */
    public boolean active() {
        return percentage > 0;
    }

    /** The current percentage, 0 when not throttling. */
    public int percentage() {
        return percentage;
    }

    /** How long a pacer sleeps after one timeslice of running at {@code pct} (QEMU's formula, +1 ns as QEMU). */
    static long sleepNanos(int pct) {
        double ratio = pct / 100.0 / (1 - pct / 100.0);
        return (long) (ratio * TIMESLICE_NS + 1);
    }

    /** One mutator's share of the throttle; not thread-safe, one per thread. */
    public Pacer pacer() {
        return new Pacer();
    }

    /** Sleeps one mutator thread as the throttle's current percentage demands; made by {@link #pacer()}. */
    public final class Pacer {
        private long sliceStart = System.nanoTime();

        private Pacer() {
        }

        /**
         * Sleeps when this thread has run a whole timeslice under throttling; returns at once otherwise.
         * Returns the nanoseconds slept, so that a mutator pacing its own work rate can leave them out (a
         * throttled guest loses that time; it does not catch up afterwards).
         */
        public long pace() throws InterruptedException {
            int pct = percentage;
            long now = System.nanoTime();
            if (pct == 0) {
                sliceStart = now;
                return 0;
            }
            if (now - sliceStart < TIMESLICE_NS) {
                return 0;
            }
            TimeUnit.NANOSECONDS.sleep(sleepNanos(pct));
            sliceStart = System.nanoTime();
            return sliceStart - now;
        }
    }
}
