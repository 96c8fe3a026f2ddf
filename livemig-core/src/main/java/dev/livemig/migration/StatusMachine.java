package dev.livemig.migration;

import java.util.function.Consumer;

/**
 * One side's migration status with QEMU's legal transitions, and the events it reports: every status
 * change is a {@link MigrationEvent.StatusChanged}. A listener that throws does not break the migration.
 */
final class StatusMachine {
    private static final System.Logger LOG = System.getLogger(StatusMachine.class.getName());
    private final MigrationStatus.Side side;
    private final Consumer<MigrationEvent> events;
    private volatile MigrationStatus status = MigrationStatus.NONE;

    StatusMachine(MigrationStatus.Side side, Consumer<MigrationEvent> events) {
        this.side = side;
        this.events = events;
    }

    MigrationStatus status() {
        return status;
    }

    /** Moves to {@code next}; an illegal transition is a livemig bug and throws IllegalStateException. */
    void move(MigrationStatus next) {
        MigrationStatus.checkMove(side, status, next);
        status = next;
        emit(new MigrationEvent.StatusChanged(next, System.currentTimeMillis()));
    }

    /** Moves to {@code next} without an event: for a change whoever drives the migration has announced already. */
    void moveAnnounced(MigrationStatus next) {
        MigrationStatus.checkMove(side, status, next);
        status = next;
    }

    void emit(MigrationEvent event) {
        try {
            events.accept(event);
        } catch (RuntimeException e) {
            // a listener's failure must not break the migration; its stack trace goes to the log
            LOG.log(System.Logger.Level.WARNING, "a migration event listener failed on " + event, e);
        }
    }
}
