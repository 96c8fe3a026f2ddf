package dev.livemig.vmstate;

import dev.livemig.wire.MigrationException;

/** A pre_save, post_save or pre_load hook of a {@link VmStateDescription}; throwing aborts the save or load. */
@FunctionalInterface
public interface VmStateHook<T> {
    void run(T object) throws MigrationException;
}
