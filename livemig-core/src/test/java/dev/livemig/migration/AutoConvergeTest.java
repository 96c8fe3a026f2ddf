package dev.livemig.migration;

import dev.livemig.machine.CpuThrottle;
import dev.livemig.wire.MigrationException;
import org.junit.jupiter.api.Test;

import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** QEMU 7.2's auto-converge rule (ram.c migration_trigger_throttle, mig_throttle_guest_down), step by step. */
class AutoConvergeTest {
    private static final long MB = 1_000_000;
    private final CpuThrottle throttle = new CpuThrottle();

    private AutoConverge rule(String... nameValue) throws MigrationException {
        MigrationConfig c = new MigrationConfig(Set.of(MigrationCapability.AUTO_CONVERGE), 300, 1L << 30);
        for (int i = 0; i < nameValue.length; i += 2) {
            c = c.withParameter(nameValue[i], nameValue[i + 1]);
        }
        return new AutoConverge(throttle, c);
    }

    /** A period in which {@code sent} bytes went out (cumulative total {@code total}) and {@code dirty} were dirtied. */
    private static void period(AutoConverge a, long total, long dirty) {
        a.periodEnded(total, dirty);
    }

    @Test
    void theSecondPeriodThatDirtiesMoreThanHalfOfWhatWasSentStartsAtTheInitialPercentage() throws Exception {
        var a = rule();
        period(a, 100 * MB, 60 * MB);
        assertFalse(throttle.active(), "one high period is not enough");
        period(a, 200 * MB, 60 * MB);
        assertEquals(20, throttle.percentage());
        period(a, 300 * MB, 60 * MB);
        assertEquals(20, throttle.percentage(), "the count restarts after each change");
        period(a, 400 * MB, 60 * MB);
        assertEquals(30, throttle.percentage(), "then cpu-throttle-increment");
    }

    @Test
    void exactlyTheThresholdIsNotHighAndACalmPeriodDoesNotResetTheCount() throws Exception {
        var a = rule();
        period(a, 100 * MB, 50 * MB); // equal to 50 %: not above it
        period(a, 200 * MB, 50 * MB);
        assertFalse(throttle.active());
        period(a, 300 * MB, 51 * MB); // high #1
        period(a, 400 * MB, 10 * MB); // calm: QEMU keeps the count
        period(a, 500 * MB, 51 * MB); // high #2
        assertEquals(20, throttle.percentage());
    }

    @Test
    void theTriggerThresholdAndTheStepsAreParameters() throws Exception {
        var a = rule("throttle-trigger-threshold", "90", "cpu-throttle-initial", "40",
                "cpu-throttle-increment", "35", "max-cpu-throttle", "80");
        period(a, 100 * MB, 80 * MB);
        period(a, 200 * MB, 80 * MB);
        assertFalse(throttle.active(), "80 % of what was sent is under a 90 % trigger");
        period(a, 300 * MB, 95 * MB);
        period(a, 400 * MB, 95 * MB);
        assertEquals(40, throttle.percentage());
        period(a, 500 * MB, 95 * MB);
        period(a, 600 * MB, 95 * MB);
        assertEquals(75, throttle.percentage());
        period(a, 700 * MB, 95 * MB);
        period(a, 800 * MB, 95 * MB);
        assertEquals(80, throttle.percentage(), "never above max-cpu-throttle");
    }

    @Test
    void tailslowStepsOnlyAsFarAsTheDirtyRateNeeds() throws Exception {
        var a = rule("cpu-throttle-tailslow", "true", "cpu-throttle-increment", "30");
        period(a, 100 * MB, 80 * MB);
        period(a, 200 * MB, 80 * MB);
        assertEquals(20, throttle.percentage());
        // 100 MB sent, 55 MB dirtied, threshold 50 MB: cpu now 80 %, ideal 80 * 50/55 = 72.7 -> 72, step 8
        period(a, 300 * MB, 55 * MB);
        period(a, 400 * MB, 55 * MB);
        assertEquals(28, throttle.percentage());
        // far above the threshold: the ideal step (72 - 14 = 58) is capped by the increment
        period(a, 500 * MB, 400 * MB);
        period(a, 600 * MB, 400 * MB);
        assertEquals(58, throttle.percentage());
    }

    @Test
    void parametersChangedDuringTheMigrationApplyAtTheNextPeriod() throws Exception {
        var current = new java.util.concurrent.atomic.AtomicReference<>(new MigrationConfig(Set.of(MigrationCapability.AUTO_CONVERGE), 300, 1L << 30));
        var a = new AutoConverge(throttle, current::get);
        period(a, 100 * MB, 60 * MB);
        period(a, 200 * MB, 60 * MB);
        assertEquals(20, throttle.percentage());
        current.set(current.get().withParameter("cpu-throttle-increment", "45")); // as migrate-set-parameters does
        period(a, 300 * MB, 60 * MB);
        period(a, 400 * MB, 60 * MB);
        assertEquals(65, throttle.percentage());
        current.set(current.get().withParameter("throttle-trigger-threshold", "70"));
        period(a, 500 * MB, 60 * MB);
        period(a, 600 * MB, 60 * MB);
        assertEquals(65, throttle.percentage(), "60 % is under the new 70 % trigger");
    }

    @Test
    void theThrottleKeepsQemusBounds() {
        throttle.set(0);
        assertEquals(1, throttle.percentage());
        throttle.set(150);
        assertEquals(99, throttle.percentage());
        throttle.stop();
        assertFalse(throttle.active());
        assertEquals(0, throttle.percentage());
    }
}
