package dev.livemig.migration;

/**
 * A request the {@link MigrationController} did not carry out: a migration in the wrong state, a run-state
 * change a switchover forbids, a configuration it cannot take. Nothing changed. Apart from
 * {@link dev.livemig.wire.MigrationException}, which says a stream or a peer failed: this one says what the
 * caller asked for cannot be done now. The message is QEMU's text where QEMU refuses the same request.
 */
public final class MigrationRefusedException extends Exception {
    /** A refusal worded as QEMU words it for the same request, where it does. */
    public MigrationRefusedException(String message) {
        super(message);
    }
}
