package dev.livemig.testing;

import dev.livemig.machine.Machine;
import dev.livemig.migration.IncomingMigration;
import dev.livemig.migration.Migration;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.migration.MigrationController;
import dev.livemig.migration.MigrationRefusedException;
import dev.livemig.migration.QmpDialect;
import dev.livemig.transport.HandshakeGate;
import dev.livemig.transport.MigrationUri;
import dev.livemig.wire.MigrationException;

/**
 * One migration through a machine's {@link MigrationController}, for tests outside the migration package that
 * need a plain source or destination beside what they test (QEMU 7.2's statuses, as the engine's default).
 * The controller is not kept: closing it would cancel the migration the test goes on using.
 */
public final class Controllers {
    private Controllers() {
    }

    /** A destination listening on {@code uri} (port 0 picks one: see {@link IncomingMigration#address()}). */
    public static IncomingMigration listen(Machine machine, MigrationConfig config, MigrationUri uri, boolean autostart)
            throws MigrationException {
        var controller = MigrationController.builder(machine).config(config).dialect(QmpDialect.QEMU_7_2)
                .destination(uri, autostart, HandshakeGate.DEFAULT).build();
        controller.startIncoming();
        return controller.migrations().incoming().orElseThrow();
    }

    /** An outgoing migration to {@code uri}, started. */
    public static Migration migrate(Machine machine, MigrationConfig config, MigrationUri uri)
            throws MigrationException, MigrationRefusedException {
        return MigrationController.builder(machine).config(config).dialect(QmpDialect.QEMU_7_2).build().migrate(uri);
    }
}
