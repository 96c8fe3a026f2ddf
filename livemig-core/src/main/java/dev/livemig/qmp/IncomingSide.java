package dev.livemig.qmp;

import dev.livemig.migration.IncomingMigration;
import dev.livemig.transport.MigrationUri;

import java.util.concurrent.CompletableFuture;

/**
 * What makes a QMP server's machine a destination (QEMU's {@code -incoming}): the URI to listen on at once,
 * or none for {@code defer} (migrate-incoming gives it later); whether the machine resumes after the load
 * (cont and stop change it until the migration starts); and the migration once it has started, for the
 * process that owns the machine to wait on.
 */
final class IncomingSide {
    private final MigrationUri uri;
    private final CompletableFuture<IncomingMigration> started = new CompletableFuture<>();
    private volatile boolean autostart;

    IncomingSide(MigrationUri uri, boolean autostart) {
        this.uri = uri;
        this.autostart = autostart;
    }

    /** Null for a deferred start. */
    MigrationUri uri() {
        return uri;
    }

    boolean autostart() {
        return autostart;
    }

    void autostart(boolean on) {
        autostart = on;
    }

    CompletableFuture<IncomingMigration> started() {
        return started;
    }
}
