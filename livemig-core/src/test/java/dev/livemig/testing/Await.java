package dev.livemig.testing;

import java.time.Duration;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Waiting in a test for the condition it needs instead of sleeping for a guessed time: the condition is
 * polled every few milliseconds up to a deadline, and a timeout fails naming what was awaited and what was
 * last seen. The deadline is no claim about speed: an idle machine gets past at once, one whose CPUs are busy
 * with other work takes longer, and only something that never happens runs into it.
 */
public final class Await {
    /** Far beyond what any awaited condition takes, even on a machine whose CPUs are taken by other processes. */
    public static final Duration DEADLINE = Duration.ofSeconds(30);
    private static final long POLL_MILLIS = 5;

    /** A condition to wait for; it may throw (a QMP call, say) or fail an assertion to stop the wait at once. */
    @FunctionalInterface
    public interface Condition {
        boolean holds() throws Exception;
    }

    /** A value to watch: what is waited for, or what a timeout reports as last seen. */
    @FunctionalInterface
    public interface Probe<T> {
        T get() throws Exception;
    }

    private Await() {
    }

    /** Waits up to {@link #DEADLINE} until {@code condition} holds. */
    public static void until(String what, Condition condition) throws Exception {
        until(what, condition, null, DEADLINE);
    }

    /** Waits up to {@link #DEADLINE} until {@code condition} holds; a timeout reports {@code seen}. */
    public static void until(String what, Condition condition, Probe<?> seen) throws Exception {
        until(what, condition, seen, DEADLINE);
    }

    /** Waits up to {@code deadline} until {@code condition} holds; a timeout reports {@code seen} (may be null). */
    public static void until(String what, Condition condition, Probe<?> seen, Duration deadline) throws Exception {
        long end = System.nanoTime() + deadline.toNanos();
        while (!condition.holds()) {
            if (System.nanoTime() - end > 0) {
                fail("timed out after " + deadline.toSeconds() + " s waiting for " + what
                        + (seen == null ? "" : "; last seen: " + seen.get()));
            }
            Thread.sleep(POLL_MILLIS);
        }
    }

    /** Polls {@code probe} up to {@link #DEADLINE} until its value is {@code accepted}; returns that value. */
    public static <T> T value(String what, Probe<T> probe, Predicate<? super T> accepted) throws Exception {
        return value(what, probe, accepted, DEADLINE);
    }

    /** Polls {@code probe} up to {@code deadline} until its value is {@code accepted}; returns that value. */
    public static <T> T value(String what, Probe<T> probe, Predicate<? super T> accepted, Duration deadline) throws Exception {
        return value(what, probe, accepted, v -> false, deadline);
    }

    /**
     * As {@link #value(String, Probe, Predicate, Duration)}, failing at once when {@code hopeless} accepts the
     * value: what is awaited can no longer come (a migration ended in another status, say).
     */
    public static <T> T value(String what, Probe<T> probe, Predicate<? super T> accepted, Predicate<? super T> hopeless,
                              Duration deadline) throws Exception {
        long end = System.nanoTime() + deadline.toNanos();
        while (true) {
            T v = probe.get();
            if (accepted.test(v)) {
                return v;
            }
            if (hopeless.test(v)) {
                fail("waiting for " + what + ", which can no longer come; seen: " + v);
            }
            if (System.nanoTime() - end > 0) {
                fail("timed out after " + deadline.toSeconds() + " s waiting for " + what + "; last seen: " + v);
            }
            Thread.sleep(POLL_MILLIS);
        }
    }
}
