package dev.livemig.migration;

import dev.livemig.transport.MigrationUri;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

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
        var g = new LiveGuest(ramBytes, pagesPerSecond);
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
            incoming.awaitFinished(10, TimeUnit.SECONDS);
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

    static long openFileDescriptors() throws java.io.IOException {
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }

    static List<String> liveMigrationThreads() {
        return Thread.getAllStackTraces().keySet().stream().map(Thread::getName).filter(n -> n.startsWith("livemig-")).toList();
    }
}
