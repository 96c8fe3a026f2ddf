package dev.livemig.vmstate;

import dev.livemig.wire.MigrationException;

/** The post_load hook: runs after fields and subsections, told the version that was loaded (§4.4). */
@FunctionalInterface
public interface PostLoadHook<T> {
    /**
     * Completes {@code object} after a load at {@code versionId} (the stream's, not the description's); a throw fails
     * the load.
     */
    void run(T object, int versionId) throws MigrationException;
}
