package dev.livemig.migration;

/** What a migration reports as it goes: QEMU's MIGRATION, MIGRATION_PASS, STOP and RESUME events. */
public sealed interface MigrationEvent {
    /** Milliseconds since the epoch when the event happened. */
    long timestampMillis();

    /** The migration entered {@code status}: QEMU's MIGRATION event. */
    record StatusChanged(MigrationStatus status, long timestampMillis) implements MigrationEvent {
    }

    /** A dirty-bitmap sync; {@code pass} is the dirty-sync-count after it. */
    record Pass(long pass, long timestampMillis) implements MigrationEvent {
    }

    /** The machine stopped running (QEMU's STOP): a switchover paused it, or a stop request did. */
    record Stop(long timestampMillis) implements MigrationEvent {
    }

    /** The machine started running again (QEMU's RESUME), e.g. a destination after the load. */
    record Resume(long timestampMillis) implements MigrationEvent {
    }
}
