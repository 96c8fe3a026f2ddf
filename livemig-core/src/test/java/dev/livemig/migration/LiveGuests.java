package dev.livemig.migration;

import dev.livemig.testing.Await;
import dev.livemig.transport.MigrationUri;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Test guests in this JVM and live migrations between them over real sockets; {@link #close} cancels
 * what still runs, destinations first, then closes the guests.
 */
final class LiveGuests implements AutoCloseable {
    private final long ramBytes;
    private final List<AutoCloseable> cleanup = new CopyOnWriteArrayList<>();

    LiveGuests(long ramBytes) {
        this.ramBytes = ramBytes;
    }

    record Pair(Migration source, IncomingMigration destination, List<MigrationEvent> sourceEvents) {
    }

    /** A guest writing {@code pagesPerSecond} pages (0: none), closed with this object. */
    LiveGuest guest(long pagesPerSecond) {
        return guest(pagesPerSecond, dev.livemig.machine.HostFeatures.ALL);
    }

    /** As {@link #guest(long)}, its migrations using only {@code features} of the kernel's. */
    LiveGuest guest(long pagesPerSecond, dev.livemig.machine.HostFeatures features) {
        return guest(pagesPerSecond, features, dev.livemig.machine.MachineCompat.CURRENT);
    }

    /** As {@link #guest(long, dev.livemig.machine.HostFeatures)}, speaking {@code compat}'s dialect. */
    LiveGuest guest(long pagesPerSecond, dev.livemig.machine.HostFeatures features, dev.livemig.machine.MachineCompat compat) {
        var g = new LiveGuest(ramBytes, pagesPerSecond, features, compat);
        cleanup.add(g);
        return g;
    }

    /** A destination listening on {@code destinationUri} and a migration started towards it. */
    Pair migrate(LiveGuest from, LiveGuest to, MigrationConfig sourceConfig, MigrationConfig destinationConfig,
                 String destinationUri) throws Exception {
        var incoming = new IncomingMigration(to.machine, destinationConfig, true, e -> { });
        // before any machine closes: a destination may still be discarding what it received
        cleanup.addFirst(() -> {
            incoming.cancel();
            incoming.awaitFinished(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS);
        });
        MigrationUri address = incoming.listen(MigrationUri.parse(destinationUri));
        List<MigrationEvent> events = new CopyOnWriteArrayList<>();
        var m = new Migration(from.machine, sourceConfig, events::add);
        m.start(address);
        return new Pair(m, incoming, events);
    }

    Pair migrate(LiveGuest from, LiveGuest to, MigrationConfig config, String uri) throws Exception {
        return migrate(from, to, config, config, uri);
    }

    @Override
    public void close() throws Exception {
        for (AutoCloseable c : cleanup) {
            c.close();
        }
    }

    /** Waits until the migration is in {@code wanted}; fails at once if it ends in another state. */
    static void awaitStatus(Migration m, MigrationStatus wanted) throws Exception {
        Await.until("the migration to be " + wanted.qemuName(), () -> {
            MigrationStatus now = m.status();
            if (now != wanted && now.isFinal()) {
                fail("the migration ended " + now.qemuName() + " while waiting for " + wanted.qemuName() + ": " + m.info().toJson());
            }
            return now == wanted;
        }, () -> m.info().toJson());
    }

    /** Waits until the migration is active and has moved at least {@code bytes} of RAM: it is in mid-stream. */
    static void awaitTransferred(Migration m, long bytes) throws Exception {
        awaitStatus(m, MigrationStatus.ACTIVE);
        Await.until("the migration to have moved " + bytes + " bytes", () -> {
            MigrationInfo info = m.info();
            if (info.status().isFinal()) {
                fail("the migration ended while waiting for it to move " + bytes + " bytes: " + info.toJson());
            }
            return info.ram() != null && info.ram().transferred() >= bytes;
        }, () -> m.info().toJson());
    }

    /**
     * Waits until no livemig thread is left and no descriptor opened since {@code fdsBefore} is still open.
     * Compared as a set, not a count: descriptors that earlier tests left to the garbage collector may close
     * meanwhile, which a count would take for a leak hidden or for one that never goes.
     */
    static void awaitReleased(Set<String> fdsBefore) throws Exception {
        Await.until("every livemig thread to end and the descriptors opened since the start to be closed",
                () -> liveMigrationThreads().isEmpty() && openedSince(fdsBefore).isEmpty(),
                () -> "threads " + liveMigrationThreads() + ", still open: " + openedSince(fdsBefore));
    }

    private static Set<String> openedSince(Set<String> before) throws IOException {
        Set<String> now = new java.util.TreeSet<>(openFileDescriptors());
        now.removeAll(before);
        return now;
    }

    /** The destination holds the source's RAM byte for byte, and the same cpu device, every write once. */
    static void assertSameGuest(LiveGuest source, LiveGuest dest) {
        org.junit.jupiter.api.Assertions.assertEquals(-1, source.ram.memory().mismatch(dest.ram.memory()), "RAM differs");
        org.junit.jupiter.api.Assertions.assertEquals(source.cpu.writes, dest.cpu.writes);
        org.junit.jupiter.api.Assertions.assertEquals(source.cpu.next, dest.cpu.next);
        org.junit.jupiter.api.Assertions.assertEquals(dest.cpu.writes, dest.counterSum(), "every write is in RAM exactly once");
    }

    /** Each open descriptor as "number->what it refers to" (socket and pipe inodes make them unique). */
    static Set<String> openFileDescriptors() throws IOException {
        String listing = "->/proc/" + ProcessHandle.current().pid() + "/fd"; // the listing's own descriptor
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.map(fd -> {
                try {
                    return fd.getFileName() + "->" + Files.readSymbolicLink(fd);
                } catch (IOException e) {
                    return fd.getFileName() + " (closed)";
                }
            }).filter(d -> !d.endsWith(" (closed)") && !d.endsWith(listing)).collect(java.util.stream.Collectors.toCollection(java.util.TreeSet::new));
        }
    }

    static List<String> liveMigrationThreads() {
        // a machine's warm-up (MigrationWarmUp) runs for a moment after it is built; it belongs to no migration
        return Thread.getAllStackTraces().keySet().stream().map(Thread::getName)
                .filter(n -> n.startsWith("livemig-") && !n.equals("livemig-warmup")).toList();
    }
}
