package dev.livemig.migration;

/** What a migration reports as it goes: QEMU's MIGRATION, MIGRATION_PASS, STOP and RESUME events. */
public sealed interface MigrationEvent {
    /** Milliseconds since the epoch when the event happened. */
    long timestampMillis();

    record StatusChanged(MigrationStatus status, long timestampMillis) implements MigrationEvent {
    }

    /** A dirty-bitmap sync; {@code pass} is the dirty-sync-count after it. */
    record Pass(long pass, long timestampMillis) implements MigrationEvent {
    }

    record Stop(long timestampMillis) implements MigrationEvent {
    }

    record Resume(long timestampMillis) implements MigrationEvent {
    }
}
