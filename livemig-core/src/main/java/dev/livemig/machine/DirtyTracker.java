package dev.livemig.machine;

import dev.livemig.machine.HostFeatures;
import dev.livemig.machine.KernelFeature;
import dev.livemig.linux.NativeCallException;

/**
 * Source of a RAM block's dirty log: how writes to guest RAM become bits in {@link RamBlock#dirtyLog()}
 * (QEMU's accelerator log_start / log_sync / log_stop).
 *
 * <p>The migration calls {@link #start} when it begins tracking a block, {@link #collect} at each dirty
 * sync (just before draining the log into its own bitmap), and {@link #stop} when it no longer needs the
 * log; all three from the migration thread. The application's threads keep writing to the block's memory
 * meanwhile. A tracker keeps its per-block state itself and may serve several blocks; {@link #close()}
 * stops every block still tracked and releases the tracker's kernel resources.
 */
public interface DirtyTracker extends AutoCloseable {

    /** Human-readable name saying which mechanism is in use (and, for a fallback, why). */
    String name();

    /**
     * Arms tracking: every write to the block's memory after this returns will be found by a later
     * {@link #collect}. Writes made before are not reported.
     *
     * @throws IllegalStateException if the block is already tracked by this tracker
     */
    void start(RamBlock block);

    /**
     * Sets in {@code block.dirtyLog()} the pages written since the last collect (or start), and re-arms
     * them. A write racing with collect is reported by this collect or by the next one, never lost.
     *
     * @throws IllegalStateException if the block is not tracked
     */
    void collect(RamBlock block);

    /**
     * Disarms tracking of the block, first collecting what was written since the last collect; later
     * writes are not reported and cost nothing. A block that is not tracked is ignored.
     */
    void stop(RamBlock block);

    /** Stops every block still tracked and releases kernel resources; the tracker is unusable afterwards. */
    @Override
    void close();

    /**
     * The best tracker this process can have: {@link UffdDirtyTracker} when a probe on a scratch mapping
     * shows userfaultfd WP_ASYNC and PAGEMAP_SCAN working, otherwise an {@link ExplicitDirtyTracker} whose
     * name says why, leaving the application's {@link RamBlock#markDirty} calls as the only source.
     */
    static DirtyTracker automatic() {
        return automatic(HostFeatures.ALL);
    }

    /** As {@link #automatic()}, but explicit when {@code features} switch userfaultfd-wp or pagemap-scan off. */
    static DirtyTracker automatic(HostFeatures features) {
        for (KernelFeature needed : new KernelFeature[] {KernelFeature.USERFAULTFD_WP, KernelFeature.PAGEMAP_SCAN}) {
            if (!features.allows(needed)) {
                return new ExplicitDirtyTracker(needed.key() + " switched off (" + HostFeatures.PROPERTY + ")");
            }
        }
        String reason;
        try {
            UffdDirtyTracker tracker = UffdDirtyTracker.open();
            try {
                tracker.probe();
                return tracker;
            } catch (RuntimeException e) {
                tracker.close();
                throw e;
            }
        } catch (NativeCallException e) {
            reason = e.call() + " errno=" + e.errno() + " " + NativeCallException.errnoName(e.errno());
        } catch (RuntimeException | LinkageError e) {
            // LinkageError: the FFM bindings could not be set up (no libc symbol, native access denied).
            reason = e.getClass().getSimpleName() + ": " + e.getMessage();
        }
        return new ExplicitDirtyTracker("userfaultfd WP_ASYNC unavailable: " + reason);
    }
}
