package dev.livemig.qmp;

import dev.livemig.migration.IncomingMigration;
import dev.livemig.transport.HandshakeGate;
import dev.livemig.transport.MigrationUri;

import java.util.concurrent.CompletableFuture;

/**
 * What makes a QMP server's machine a destination (QEMU's {@code -incoming}): the URI to listen on at once,
 * or none for {@code defer} (migrate-incoming gives it later); whether the machine resumes after the load
 * (cont and stop change it until the migration starts); which connections the listener takes (the handshake
 * gate, for the listen at start and for migrate-incoming alike); and the migration once it has started, for
 * the process that owns the machine to wait on.
 */
final class IncomingSide {
    private final MigrationUri uri;
    private final HandshakeGate gate;
    private final CompletableFuture<IncomingMigration> started = new CompletableFuture<>();
    private volatile boolean autostart;

    IncomingSide(MigrationUri uri, boolean autostart, HandshakeGate gate) {
        this.uri = uri;
        this.gate = java.util.Objects.requireNonNull(gate, "gate");
        this.autostart = autostart;
    }

    /** Null for a deferred start. */
    MigrationUri uri() {
        return uri;
    }

    HandshakeGate gate() {
        return gate;
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
