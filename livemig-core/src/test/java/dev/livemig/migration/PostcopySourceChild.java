package dev.livemig.migration;

import dev.livemig.transport.MigrationUri;

import java.util.EnumSet;
import java.util.concurrent.TimeUnit;

/**
 * The source of {@code PostcopyMigrationTest}, in a JVM of its own as a real source is: a writing
 * {@link LiveGuest} migrated with postcopy-ram to {@code args[0]} (precopy held to 32 MiB/s, the sweep after the
 * switch to 8 MiB/s, the switch after the first MiB). {@code args[1]}, when given: postcopy-preempt in QEMU 7.2's
 * form ("preempt-at-setup", a 7.2 dialect) or current QEMU's ("preempt-at-switch"). Prints "STATUS
 * POSTCOPY_REQUESTS WRITES STATUSES" (the statuses it went through, joined by '>') at the end.
 */
public final class PostcopySourceChild {
    static final long RAM = 16L << 20;
    /** Every status the migration went through, in order. */
    private static final java.util.concurrent.BlockingQueue<MigrationStatus> STATUSES = new java.util.concurrent.LinkedBlockingQueue<>();

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
            // recover-twice speaks 10.0's dialect: its recoveries pass through postcopy-recover-setup
            QmpDialect dialect = args.length > 2 && args[2].equals("recover-twice") ? QmpDialect.QEMU_10_0 : QmpDialect.QEMU_7_2;
            var seen = new java.util.concurrent.CopyOnWriteArrayList<String>();
            var migration = new Migration(source.machine, config, dialect, e -> {
                if (e instanceof MigrationEvent.StatusChanged c) {
                    STATUSES.add(c.status());
                    seen.add(c.status().qemuName());
                }
            });
            migration.start(MigrationUri.parse(args[0]));
            LiveGuests.awaitTransferred(migration, 1 << 20);
            migration.startPostcopy();
            if (args.length > 2 && !args[2].equals("none")) {
                recoverAfterCuts(migration, args[0], args[2].equals("recover-twice"));
            }
            MigrationStatus status = migration.awaitFinished(120, TimeUnit.SECONDS);
            System.out.println(status.qemuName() + " " + migration.info().ram().postcopyRequests() + " " + source.cpu.writes
                    + " " + String.join(">", seen) + (status == MigrationStatus.COMPLETED ? "" : " " + migration.info().errorDesc()));
        }
        System.exit(0);
    }

    /**
     * {@code args[2]} "recover": once in postcopy, migrate-pause cuts the link; both ends pause; migrate
     * resume=true reconnects to {@code address}, where the destination's page server listens again by itself (the
     * destination JVM, whose guest thread may be waiting for a page, plays no part). "recover-twice": the first
     * resume goes through a proxy that cuts it inside the recovery handshake (after 12 bytes of the new stream,
     * in the first RECV_BITMAP), so both ends pause again before a second resume succeeds. A resume that comes
     * before the page server listens again fails and pauses again; it is retried.
     */
    private static void recoverAfterCuts(Migration migration, String address, boolean twice) throws Exception {
        next(MigrationStatus.POSTCOPY_ACTIVE);
        Thread.sleep(200); // the destination's guest runs and faults meanwhile
        migration.pausePostcopy();
        next(MigrationStatus.POSTCOPY_PAUSED);
        if (twice) {
            var tcp = (MigrationUri.Tcp) MigrationUri.parse(address);
            for (boolean reached = false; !reached; ) { // until the cut happened at the destination, not before it
                try (var proxy = dev.livemig.testing.FaultProxy.start(new java.net.InetSocketAddress(tcp.host(), tcp.port()),
                        new dev.livemig.testing.FaultProxy.Fault(dev.livemig.testing.FaultProxy.Kind.CUT, 0,
                                dev.livemig.testing.FaultProxy.Direction.TO_DESTINATION, 12))) {
                    migration.resumePostcopy(MigrationUri.parse(proxy.uri()));
                    next(MigrationStatus.POSTCOPY_RECOVER);
                    next(MigrationStatus.POSTCOPY_PAUSED);
                    reached = proxy.forwarded(0, dev.livemig.testing.FaultProxy.Direction.TO_SOURCE) > 0; // a bitmap came back
                }
                Thread.sleep(50);
            }
        }
        // as an operator would: again until it takes (the page server listens again only once it saw the cut)
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            migration.resumePostcopy(MigrationUri.parse(address));
            // a refused connection pauses again without postcopy-recover in 10.0's dialect (recover-setup, paused)
            MigrationStatus s = nextOf(MigrationStatus.POSTCOPY_ACTIVE, MigrationStatus.POSTCOPY_PAUSED);
            if (s == MigrationStatus.POSTCOPY_ACTIVE) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("still paused after resuming for 60 s");
            }
            Thread.sleep(50);
        }
    }

    /** Waits for the next status that is one of {@code wanted}, passing over the others (recover-setup, recover). */
    private static MigrationStatus nextOf(MigrationStatus... wanted) throws Exception {
        while (true) {
            MigrationStatus s = STATUSES.poll(60, TimeUnit.SECONDS);
            if (s != null && java.util.Arrays.asList(wanted).contains(s)) {
                return s;
            }
            if (s == null || s.isFinal()) {
                throw new IllegalStateException("status " + s + " while waiting for one of " + java.util.Arrays.toString(wanted));
            }
        }
    }

    /** Waits for the next status change, which must be {@code wanted}. */
    private static void next(MigrationStatus wanted) throws Exception {
        while (true) {
            MigrationStatus s = STATUSES.poll(60, TimeUnit.SECONDS);
            if (s == wanted) {
                return;
            }
            if (s == null || s.isFinal()) {
                throw new IllegalStateException("status " + s + " while waiting for " + wanted.qemuName());
            }
        }
    }
}
