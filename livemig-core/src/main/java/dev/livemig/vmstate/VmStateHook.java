package dev.livemig.vmstate;

import dev.livemig.wire.MigrationException;

/** A pre_save or pre_load hook of a {@link VmStateDescription}; throwing aborts the save or load. */
@FunctionalInterface
public interface VmStateHook<T> {
    /** Runs on {@code object}, on the migration thread; a MigrationException aborts the save or load. */
    void run(T object) throws MigrationException;
}
