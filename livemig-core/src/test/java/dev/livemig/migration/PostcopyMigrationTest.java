package dev.livemig.migration;

import dev.livemig.host.HostAssumptions;
import dev.livemig.machine.RunState;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.EnumSet;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * livemig to livemig in postcopy: the guest switches while it writes, runs on the destination from
 * POSTCOPY_RUN on, and its threads' faults on pages not there yet (from Java code) are served by the
 * destination's page server, which asks the source for them.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class PostcopyMigrationTest {
    private static final long RAM = 16L << 20;

    @TempDir
    Path dir;

    private final LiveGuests guests = new LiveGuests(RAM);

    @BeforeEach
    void needsMissingPageFaults() {
        HostAssumptions.assumeUserfaultfdMissing();
    }

    @AfterEach
    void release() throws Exception {
        guests.close();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"tcp", "unix"})
    void aWritingGuestMovesInPostcopyAndGoesOnWritingThereWhileItsPagesArrive(String transport) throws Exception {
        LiveGuest source = guests.guest(20_000);
        LiveGuest dest = guests.guest(20_000);
        source.start();
        dest.start(); // its cpu thread, paused until the migration starts the guest there
        dest.machine.pause();
        source.awaitWrites(1_000);
        // precopy held to 32 MiB/s so that the switch comes early; the sweep after it to 8 MiB/s, so that the
        // destination's guest touches pages before they come
        MigrationConfig config = new MigrationConfig(EnumSet.of(MigrationCapability.POSTCOPY_RAM), 300, 32L << 20)
                .withParameter("max-postcopy-bandwidth", Long.toString(8L << 20));
        String uri = transport.equals("tcp") ? "tcp:127.0.0.1:0" : "unix:" + dir.resolve("postcopy.sock");
        var pair = guests.migrate(source, dest, config, uri);
        LiveGuests.awaitTransferred(pair.source(), 1 << 20);
        pair.source().startPostcopy();

        assertEquals(MigrationStatus.COMPLETED, pair.source().awaitFinished(120, TimeUnit.SECONDS), pair.source().info().toJson().toString());
        assertEquals(MigrationStatus.COMPLETED, pair.destination().awaitFinished(30, TimeUnit.SECONDS), pair.destination().error());
        assertEquals(RunState.POSTMIGRATE, source.machine.runState());
        assertEquals(RunState.RUNNING, dest.machine.runState(), "the guest runs on the destination since POSTCOPY_RUN");
        var outcome = pair.destination().postcopyOutcome().orElseThrow();
        assertTrue(outcome.requests() > 0, "the destination's guest asked for pages: " + outcome);
        assertTrue(outcome.latencyP99Nanos() > 0, outcome.toString());
        assertTrue(pair.source().info().ram().postcopyRequests() >= outcome.requests(), pair.source().info().toJson().toString());
        dest.machine.pause();
        assertEquals(dest.cpu.writes, dest.counterSum(), "every write, before and after the switch, is in RAM exactly once");
        assertTrue(dest.cpu.writes > source.cpu.writes, "the guest went on writing on the destination");
    }
}
