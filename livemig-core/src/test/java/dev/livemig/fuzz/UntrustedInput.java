package dev.livemig.fuzz;

import java.lang.management.ManagementFactory;

/**
 * The property every fuzz target checks on one input: the parser either succeeds or throws its documented
 * checked exception; anything else that comes out (a RuntimeException, an Error such as StackOverflowError or
 * OutOfMemoryError) goes to Jazzer as a finding. The bytes allocated on this thread while the input is read
 * are measured too: more than {@link #ALLOCATION_BUDGET} is a finding, so an allocation sized by a number in
 * the input is caught even when the heap happens to be large enough for it. Hangs are Jazzer's per-input
 * timeout (scripts/fuzz.sh sets it).
 */
public final class UntrustedInput {
    /**
     * What one input may make the parsing thread allocate: above the largest documented cap of a single
     * buffer taken from a length in the stream (StreamReader.MAX_ARRAY, 64 MiB), so only an unbounded
     * allocation, or many bounded ones, crosses it.
     */
    public static final long ALLOCATION_BUDGET = 96L << 20;

    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    /** A parse of one input; may throw the documented exception. */
    @FunctionalInterface
    public interface Parse {
        void run() throws Exception;
    }

    private UntrustedInput() {
    }

    /**
     * Runs {@code parse}; returns the documented exception it threw, or null when it succeeded. An input over
     * the allocation budget is parsed a second time, which decides: the first pass through a code path also
     * allocates for class loading and Jazzer's instrumentation, on this thread.
     */
    public static <E extends Exception> E parse(Class<E> documented, Parse parse) {
        long before = THREADS.getCurrentThreadAllocatedBytes();
        E refused = run(documented, parse);
        if (THREADS.getCurrentThreadAllocatedBytes() - before > ALLOCATION_BUDGET) {
            before = THREADS.getCurrentThreadAllocatedBytes();
            refused = run(documented, parse);
            long allocated = THREADS.getCurrentThreadAllocatedBytes() - before;
            if (allocated > ALLOCATION_BUDGET) {
                throw new AssertionError("one input allocated " + allocated + " bytes: budget=" + ALLOCATION_BUDGET
                        + (refused == null ? "" : " refused=" + refused.getMessage()));
            }
        }
        return refused;
    }

    private static <E extends Exception> E run(Class<E> documented, Parse parse) {
        try {
            parse.run();
            return null;
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            if (!documented.isInstance(e)) {
                throw new AssertionError("undocumented checked exception: type=" + e.getClass().getName()
                        + " documented=" + documented.getName(), e);
            }
            return documented.cast(e);
        }
    }
}
