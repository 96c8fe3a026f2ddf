package dev.livemig.cli;

import dev.livemig.machine.Machine;
import dev.livemig.migration.Migration;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.migration.MigrationController;
import dev.livemig.migration.MigrationRefusedException;
import dev.livemig.migration.MigrationInfo;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.transport.MigrationChannels;
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
        return migrate(machine, config, target, quiet, null);
    }

    /**
     * As above; with a {@code cut} (postcopy), the link is cut on purpose (migrate-pause) once the migration is in
     * postcopy, and the source resumes (migrate resume=true) to {@code target}, where the destination's page
     * server listens again by itself, until it takes.
     */
    static MigrationInfo migrate(Machine machine, MigrationConfig config, MigrationUri target, boolean quiet, LinkCut cut)
            throws MigrationException, MigrationRefusedException, InterruptedException {
        return migrate(machine, config, target, quiet, cut, 0);
    }

    /**
     * As above; {@code postcopyAtSync} > 0 (postcopy-ram): switch to postcopy once dirty-sync-count reaches it, as
     * an operator's migrate-start-postcopy at that moment would, instead of when precopy stops converging.
     */
    static MigrationInfo migrate(Machine machine, MigrationConfig config, MigrationUri target, boolean quiet, LinkCut cut,
                                 int postcopyAtSync) throws MigrationException, MigrationRefusedException, InterruptedException {
        return migrate(machine, config, new MigrationChannels(target, java.util.Optional.empty()), quiet, cut, postcopyAtSync);
    }

    /** As above, to a main channel and, for cpr-transfer, a cpr channel (QEMU's channels argument). */
    static MigrationInfo migrate(Machine machine, MigrationConfig config, MigrationChannels channels, boolean quiet, LinkCut cut,
                                 int postcopyAtSync) throws MigrationException, MigrationRefusedException, InterruptedException {
        return migrate(machine, config, channels, quiet, cut, postcopyAtSync, e -> { });
    }

    /** As above, with {@code objects} (-object's credentials) for the tls-creds parameter to name. */
    static MigrationInfo migrate(Machine machine, MigrationConfig config, dev.livemig.transport.tls.UserObjects objects,
                                 MigrationChannels channels, boolean quiet) throws MigrationException, MigrationRefusedException, InterruptedException {
        return migrate(machine, config, objects, channels, quiet, null, 0, e -> { });
    }

    /** As below, without objects: no TLS. */
    static MigrationInfo migrate(Machine machine, MigrationConfig config, MigrationChannels channels, boolean quiet, LinkCut cut,
                                 int postcopyAtSync, java.util.function.Consumer<dev.livemig.migration.MigrationEvent> events)
            throws MigrationException, MigrationRefusedException, InterruptedException {
        return migrate(machine, config, new dev.livemig.transport.tls.UserObjects(), channels, quiet, cut, postcopyAtSync, events);
    }

    /** As above, telling {@code events} the migration's events as they happen (on the migration's thread). */
    static MigrationInfo migrate(Machine machine, MigrationConfig config, dev.livemig.transport.tls.UserObjects objects,
                                 MigrationChannels channels, boolean quiet, LinkCut cut, int postcopyAtSync,
                                 java.util.function.Consumer<dev.livemig.migration.MigrationEvent> events)
            throws MigrationException, MigrationRefusedException, InterruptedException {
        // with postcopy-ram the command line switches by itself once precopy stops converging, unless told when
        boolean postcopy = config.has(dev.livemig.migration.MigrationCapability.POSTCOPY_RAM);
        try (var controller = MigrationController.builder(machine).config(config).objects(objects).events(events)
                .postcopyWhenStuck(postcopy && postcopyAtSync == 0).build()) {
            return follow(controller, config, channels, quiet, cut, postcopy ? postcopyAtSync : 0);
        }
    }

    /** A cut of the link during postcopy and its recovery: what happened, filled in as the migration runs. */
    static final class LinkCut {
        long cutAtNs = -1;     // when migrate-pause cut the link
        long resumedAtNs = -1; // when the migration was postcopy-active again
        int resumeAttempts;
        private long lastAttemptNs;

        /** Milliseconds from the cut to postcopy-active again; -1 if it did not happen. */
        long pausedMs() {
            return cutAtNs < 0 || resumedAtNs < 0 ? -1 : (resumedAtNs - cutAtNs) / 1_000_000;
        }

        /** Acts on the migration's status: cuts once in postcopy-active, resumes while paused. */
        void step(Migration m, MigrationUri target, boolean quiet) {
            MigrationStatus s = m.status();
            try {
                // once RAM flows after the switch: before that the destination has no package to go on from
                if (s == MigrationStatus.POSTCOPY_ACTIVE && cutAtNs < 0 && m.info().ram().postcopyBytes() > 0) {
                    cutAtNs = System.nanoTime();
                    m.pausePostcopy();
                    if (!quiet) {
                        System.out.printf("%ncut the link on purpose (migrate-pause) in postcopy; resuming to %s%n", target);
                    }
                } else if (s == MigrationStatus.POSTCOPY_PAUSED && System.nanoTime() - lastAttemptNs > 100_000_000L) {
                    lastAttemptNs = System.nanoTime();
                    resumeAttempts++;
                    m.resumePostcopy(target); // refused, or failing again, until the destination listens again
                } else if ((s == MigrationStatus.POSTCOPY_ACTIVE || s == MigrationStatus.COMPLETED) && cutAtNs >= 0
                        && resumeAttempts > 0 && resumedAtNs < 0) {
                    resumedAtNs = System.nanoTime(); // within the 5 ms between looks
                }
            } catch (MigrationException e) {
                // the status moved meanwhile: the next look decides
            }
        }
    }

    private static MigrationInfo follow(MigrationController controller, MigrationConfig config, MigrationChannels channels,
                                        boolean quiet, LinkCut cut, int postcopyAtSync) throws MigrationRefusedException, InterruptedException {
        MigrationUri target = channels.main();
        if (!quiet) {
            System.out.printf("migrating to %s%s (downtime-limit %d ms, max-bandwidth %s/s, capabilities %s%s)%n", target,
                    channels.cpr().map(c -> " with cpr channel " + c).orElse(""),
                    config.downtimeLimitMs(), Sizes.human(config.maxBandwidth()),
                    config.capabilities().isEmpty() ? "none" : String.join(",", config.capabilityNames()),
                    config.cprMode() ? ", mode " + config.text(dev.livemig.migration.MigrationParameter.MODE) : "");
        }
        Migration m = controller.migrate(channels);
        long lastDraw = System.nanoTime() - 1_000_000_000L;
        boolean switchPending = postcopyAtSync > 0;
        while (!m.status().isFinal()) {
            m.awaitFinished(cut == null && !switchPending ? 250 : 5, TimeUnit.MILLISECONDS);
            if (cut != null) {
                cut.step(m, target, quiet);
            }
            if (switchPending && m.status() == MigrationStatus.ACTIVE && m.info().ram().dirtySyncCount() >= postcopyAtSync) {
                controller.startPostcopy();
                switchPending = false;
            }
            if (!quiet && System.nanoTime() - lastDraw >= 250_000_000L) {
                lastDraw = System.nanoTime();
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
        if (cut != null) {
            cut.step(m, target, quiet); // a recovery that ran to completion between two looks
        }
        if (!quiet) {
            System.out.println();
        }
        return m.info();
    }
}
