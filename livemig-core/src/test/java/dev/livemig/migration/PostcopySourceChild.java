package dev.livemig.migration;

import dev.livemig.transport.MigrationUri;

import java.util.EnumSet;
import java.util.concurrent.TimeUnit;

/**
 * The source of {@code PostcopyMigrationTest}, in a JVM of its own as a real source is: a writing
 * {@link LiveGuest} migrated with postcopy-ram to {@code args[0]} (precopy held to 32 MiB/s, the sweep after the
 * switch to 8 MiB/s, the switch after the first MiB). {@code args[1]}, when given: postcopy-preempt in QEMU 7.2's
 * form ("preempt-at-setup", a 7.2 dialect) or current QEMU's ("preempt-at-switch"). Prints "STATUS
 * POSTCOPY_REQUESTS WRITES" at the end.
 */
public final class PostcopySourceChild {
    static final long RAM = 16L << 20;

    private PostcopySourceChild() {
    }

    public static void main(String[] args) throws Exception {
        try (var guests = new LiveGuests(RAM)) {
            String preempt = args.length > 1 ? args[1] : "none";
            LiveGuest source = guests.guest(20_000, dev.livemig.machine.HostFeatures.ALL, preempt.equals("preempt-at-setup")
                    ? dev.livemig.machine.MachineCompat.QEMU_7_2 : dev.livemig.machine.MachineCompat.CURRENT);
            source.start();
            source.awaitWrites(1_000);
            var capabilities = EnumSet.of(MigrationCapability.POSTCOPY_RAM);
            if (!preempt.equals("none")) {
                capabilities.add(MigrationCapability.POSTCOPY_PREEMPT);
            }
            MigrationConfig config = new MigrationConfig(capabilities, 300, 32L << 20)
                    .withParameter("max-postcopy-bandwidth", Long.toString(8L << 20));
            var migration = new Migration(source.machine, config, e -> { });
            migration.start(MigrationUri.parse(args[0]));
            LiveGuests.awaitTransferred(migration, 1 << 20);
            migration.startPostcopy();
            MigrationStatus status = migration.awaitFinished(120, TimeUnit.SECONDS);
            System.out.println(status.qemuName() + " " + migration.info().ram().postcopyRequests() + " " + source.cpu.writes
                    + (status == MigrationStatus.COMPLETED ? "" : " " + migration.info().errorDesc()));
        }
        System.exit(0);
    }
}
