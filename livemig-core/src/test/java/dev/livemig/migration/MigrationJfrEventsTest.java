package dev.livemig.migration;

import dev.livemig.transport.HandshakeGate;
import dev.livemig.transport.MigrationUri;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** What a JFR recording of a migration shows: setup, each pass, the switchover with its downtime split, the destination's load. */
class MigrationJfrEventsTest {
    private static final long RAM = 8L << 20;
    private static final List<String> PARTS = List.of("stop", "preSwitchover", "finalState", "transfer", "destinationLoad");

    private final LiveGuests guests = new LiveGuests(RAM);

    @TempDir
    Path dir;

    @AfterEach
    void release() throws Exception {
        guests.close();
    }

    @Test
    void theSwitchoverEventsPartsAddUpToTheReportedDowntime() throws Exception {
        var from = guests.guest(5_000);
        var to = guests.guest(5_000);
        from.start();
        from.awaitWrites(200);
        var config = new MigrationConfig(Set.of(MigrationCapability.RETURN_PATH, MigrationCapability.PAUSE_BEFORE_SWITCHOVER),
                300, 1L << 30);
        MigrationInfo info;
        Path file = dir.resolve("migration.jfr");
        try (var recording = new Recording()) {
            recording.enable("dev.livemig.*").withThreshold(Duration.ZERO);
            recording.start();
            try (var dst = MigrationController.builder(to.machine).config(config).destination(new MigrationUri.Tcp("127.0.0.1", 0),
                         true, HandshakeGate.DEFAULT).build();
                 var src = MigrationController.builder(from.machine).config(config).build()) {
                dst.startIncoming();
                var incoming = dst.migrations().incoming().orElseThrow();
                Migration m = src.migrate(incoming.address());
                LiveGuests.awaitStatus(m, MigrationStatus.PRE_SWITCHOVER);
                Thread.sleep(20); // a visible pre-switchover part
                src.continueFrom(MigrationStatus.PRE_SWITCHOVER);
                assertEquals(MigrationStatus.COMPLETED, m.awaitFinished(60, TimeUnit.SECONDS), m.info().toString());
                assertEquals(MigrationStatus.COMPLETED, incoming.awaitFinished(10, TimeUnit.SECONDS), incoming.error());
                info = m.info();
            }
            recording.stop();
            recording.dump(file);
        }
        List<RecordedEvent> events = RecordingFile.readAllEvents(file);

        RecordedEvent switchover = only(events, "dev.livemig.Switchover");
        long sum = 0;
        for (String part : PARTS) {
            long nanos = switchover.getDuration(part).toNanos();
            assertTrue(nanos >= 0, part + " is not negative");
            sum += nanos;
        }
        long downtime = switchover.getDuration("downtime").toNanos();
        assertEquals(downtime, sum, "the parts add up to the downtime exactly");
        assertEquals(info.downtimeMs(), downtime / 1_000_000, "the event's downtime is query-migrate's");
        assertTrue(switchover.getDuration("preSwitchover").toMillis() >= 20, "held in pre-switchover for the 20 ms it was");
        assertTrue(switchover.getDuration("destinationLoad").toNanos() > 0, "with a return path the destination's confirmation is awaited");

        List<Long> passes = events.stream().filter(e -> e.getEventType().getName().equals("dev.livemig.MigrationPass"))
                .map(e -> e.getLong("pass")).toList();
        assertFalse(passes.isEmpty());
        for (int i = 0; i < passes.size(); i++) {
            assertEquals(i + 1, passes.get(i), "passes are numbered from 1, one event each: " + passes);
        }
        assertEquals(info.ram().dirtySyncCount(), passes.getLast(), "the last pass is query-migrate's dirty-sync-count");

        RecordedEvent setup = only(events, "dev.livemig.MigrationSetup");
        assertTrue(setup.getString("capabilities").contains("return-path"), setup.toString());
        RecordedEvent load = only(events, "dev.livemig.IncomingLoad");
        assertEquals("completed", load.getString("status"));
        assertTrue(load.getDuration().compareTo(switchover.getDuration()) > 0, "the load spans the whole migration, the switchover included");
    }

    @Test
    void aMultifdMigrationRecordsEachSyncOfItsChannels() throws Exception {
        var from = guests.guest(0);
        var to = guests.guest(0);
        from.machine.resume();
        var config = new MigrationConfig(Set.of(MigrationCapability.MULTIFD), 300, 1L << 30).withParameter("multifd-channels", "2");
        Path file = dir.resolve("multifd.jfr");
        try (var recording = new Recording()) {
            recording.enable("dev.livemig.MultifdSync").withThreshold(Duration.ZERO);
            recording.start();
            try (var dst = MigrationController.builder(to.machine).config(config).destination(new MigrationUri.Tcp("127.0.0.1", 0),
                         true, HandshakeGate.DEFAULT).build();
                 var src = MigrationController.builder(from.machine).config(config).build()) {
                dst.startIncoming();
                Migration m = src.migrate(dst.migrations().incoming().orElseThrow().address());
                assertEquals(MigrationStatus.COMPLETED, m.awaitFinished(60, TimeUnit.SECONDS), m.info().toString());
            }
            recording.stop();
            recording.dump(file);
        }
        var syncs = RecordingFile.readAllEvents(file).stream()
                .filter(e -> e.getEventType().getName().equals("dev.livemig.MultifdSync")).toList();
        assertFalse(syncs.isEmpty(), "a multifd migration syncs its channels at least once per pass");
        for (RecordedEvent sync : syncs) {
            assertEquals(2, sync.getInt("channels"));
            assertEquals(0, sync.getLong("zeroCopyMisses"), "no zero-copy-send, no misses");
        }
        long previous = 0;
        for (RecordedEvent sync : syncs) {
            assertTrue(sync.getLong("packets") > previous, "packet numbers grow from sync to sync");
            previous = sync.getLong("packets");
        }
    }

    private static RecordedEvent only(List<RecordedEvent> events, String name) {
        var found = events.stream().filter(e -> e.getEventType().getName().equals(name)).toList();
        assertEquals(1, found.size(), name + ": " + found);
        return found.getFirst();
    }
}
