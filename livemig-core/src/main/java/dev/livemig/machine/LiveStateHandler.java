package dev.livemig.machine;

import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;

/**
 * State that migrates iteratively, in START/PART/END sections: QEMU's SaveVMHandlers.
 *
 * <p>Source side, on the migration thread, in this order: {@link #saveSetup} (writes the START body),
 * {@link #pendingEstimate}/{@link #pendingExact} and {@link #saveIterate} (PART bodies) while the
 * migration iterates, {@link #saveCompletePrecopy} (END body) with the machine paused, and finally
 * {@link #saveCleanup} whatever the outcome. Destination side, on the load thread: {@link #loadSetup}
 * before the first record, {@link #loadState} for every section of this handler, {@link #loadCleanup}
 * at the end. A handler whose {@link #isActive} is false is skipped in every phase but the two cleanups.
 * Section framing (headers, footers) is written and checked by the caller; handlers write and read bodies only.
 */
public interface LiveStateHandler {

    /** Data still to send: what must go before switchover and what postcopy could carry later. */
    record Pending(long mustPrecopy, long canPostcopy) {
        /** Nothing left to send. */
        public static final Pending NONE = new Pending(0, 0);

        /** Bytes still to send, precopy and postcopy together. */
        public long total() {
            return mustPrecopy + canPostcopy;
        }
    }

    /**
     * False leaves this handler out (QEMU's is_active): no section is sent for it and neither side runs its setup;
     * {@link #saveCleanup} and {@link #loadCleanup} are called all the same.
     */
    default boolean isActive() {
        return true;
    }

    /** False skips only the iterate phase (QEMU's is_active_iterate). */
    default boolean isActiveIterate() {
        return true;
    }

    /** Whether this handler's state can be sent after switchover, with postcopy (QEMU's has_postcopy). */
    default boolean hasPostcopy() {
        return false;
    }

    /** Writes the START section body. */
    void saveSetup(StreamWriter out) throws MigrationException;

    /**
     * Writes one PART section body within {@code budgetBytes} (0 = unlimited); returns true when this handler
     * has nothing more to send now.
     */
    boolean saveIterate(StreamWriter out, long budgetBytes) throws MigrationException;

    /** Writes the END section body: everything still pending. Called with the machine paused. */
    void saveCompletePrecopy(StreamWriter out) throws MigrationException;

    /** Cheap estimate of what is still to send. */
    Pending pendingEstimate();

    /** Exact amount still to send; may synchronise dirty tracking first. */
    default Pending pendingExact() {
        return pendingEstimate();
    }

    /**
     * Source: releases what the save phases held; called once after them, whether they succeeded, failed or were
     * cancelled.
     */
    default void saveCleanup() {
    }

    /** Destination: prepares to load, before the first record of the stream is read; a throw fails the load. */
    default void loadSetup() throws MigrationException {
    }

    /** Reads one section body written by the source's counterpart at {@code versionId}. */
    void loadState(StreamReader in, int versionId) throws MigrationException;

    /** Destination: releases what loading held; called at the end of the load, whatever its outcome. */
    default void loadCleanup() {
    }

    /** Destination: true when this handler must approve switchover (capability switchover-ack). */
    default boolean switchoverAckNeeded() {
        return false;
    }

    /**
     * Destination, with switchover-ack, for a handler whose {@link #switchoverAckNeeded} is true: called before
     * {@link #loadSetup} with the callback to run (once, from any thread) when the handler agrees that the
     * source may stop the machine. The source does not switch over before every such handler approved.
     */
    default void awaitSwitchoverApproval(Runnable approve) {
        approve.run();
    }
}
