package dev.livemig.cli;

import dev.livemig.machine.Machine;
import dev.livemig.migration.Migration;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.migration.MigrationController;
import dev.livemig.migration.MigrationRefusedException;
import dev.livemig.migration.MigrationInfo;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.transport.MigrationUri;
import dev.livemig.wire.MigrationException;

import java.util.concurrent.TimeUnit;

/**
 * Runs one outgoing migration to its end through the machine's {@link MigrationController}, drawing progress
 * on the terminal (unless quiet); an interrupted run cancels the migration as the controller closes.
 */
final class SourceRun {
    private SourceRun() {
    }

    static MigrationInfo migrate(Machine machine, MigrationConfig config, MigrationUri target, boolean quiet)
            throws MigrationException, MigrationRefusedException, InterruptedException {
        // with postcopy-ram the command line switches by itself once precopy stops converging
        try (var controller = MigrationController.builder(machine).config(config)
                .postcopyWhenStuck(config.has(dev.livemig.migration.MigrationCapability.POSTCOPY_RAM)).build()) {
            return follow(controller, config, target, quiet);
        }
    }

    private static MigrationInfo follow(MigrationController controller, MigrationConfig config, MigrationUri target, boolean quiet)
            throws MigrationRefusedException, InterruptedException {
        if (!quiet) {
            System.out.printf("migrating to %s (downtime-limit %d ms, max-bandwidth %s/s, capabilities %s)%n", target,
                    config.downtimeLimitMs(), Sizes.human(config.maxBandwidth()),
                    config.capabilities().isEmpty() ? "none" : String.join(",", config.capabilityNames()));
        }
        Migration m = controller.migrate(target);
        while (!m.status().isFinal()) {
            m.awaitFinished(250, TimeUnit.MILLISECONDS);
            if (!quiet) {
                System.out.print("\r" + ProgressLine.render(m.info()) + "   ");
                System.out.flush();
            }
            if (m.status() == MigrationStatus.PRE_SWITCHOVER) {
                if (!quiet) {
                    System.out.printf("%npre-switchover: the guest is stopped, its final state not yet sent; continuing (as migrate-continue would)%n");
                }
                controller.continueFrom(MigrationStatus.PRE_SWITCHOVER);
            }
        }
        if (!quiet) {
            System.out.println();
        }
        return m.info();
    }
}
