package dev.livemig.migration;

import dev.livemig.machine.RunState;
import dev.livemig.transport.HandshakeGate;
import dev.livemig.transport.MigrationUri;
import dev.livemig.wire.MigrationException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The one migration lifecycle, driven as an embedding application (or the command line) drives it: no QMP.
 * QmpMigrationStateRulesTest checks the same rules through QMP against QEMU's texts.
 */
class MigrationControllerTest {
    private static final long RAM = 8L << 20;

    private final LiveGuests guests = new LiveGuests(RAM);
    private final List<MigrationEvent> sourceEvents = new CopyOnWriteArrayList<>();
    private final List<MigrationEvent> destinationEvents = new CopyOnWriteArrayList<>();

    @AfterEach
    void release() throws Exception {
        guests.close();
    }

    private MigrationController source(LiveGuest g, MigrationConfig config) throws MigrationException {
        return MigrationController.builder(g.machine).config(config).dialect(QmpDialect.QEMU_7_2).events(sourceEvents::add).build();
    }

    private MigrationController destination(LiveGuest g, MigrationConfig config, MigrationUri uri) throws MigrationException {
        return MigrationController.builder(g.machine).config(config).dialect(QmpDialect.QEMU_7_2).events(destinationEvents::add)
                .destination(uri, true, HandshakeGate.DEFAULT).build();
    }

    private static List<MigrationStatus> statuses(List<MigrationEvent> events) {
        return events.stream().filter(e -> e instanceof MigrationEvent.StatusChanged)
                .map(e -> ((MigrationEvent.StatusChanged) e).status()).toList();
    }

    @Test
    void aRunningGuestMovesBetweenTwoControllersAndEachAnnouncesWhatQemuWould() throws Exception {
        var from = guests.guest(5_000);
        var to = guests.guest(5_000);
        from.start();
        from.awaitWrites(200);
        var events = MigrationConfig.defaults().withCapability(MigrationCapability.EVENTS);
        try (var dst = destination(to, events, new MigrationUri.Tcp("127.0.0.1", 0));
             var src = source(from, events)) {
            assertEquals(RunState.INMIGRATE, to.machine.runState(), "a destination waits in inmigrate");
            dst.startIncoming();
            IncomingMigration incoming = dst.incomingStarted().toCompletableFuture().get(5, TimeUnit.SECONDS);
            Migration m = src.migrate(incoming.address().toString());
            assertEquals(MigrationStatus.COMPLETED, m.awaitFinished(60, TimeUnit.SECONDS), m.info().toString());
            assertEquals(MigrationStatus.COMPLETED, incoming.awaitFinished(10, TimeUnit.SECONDS), incoming.error());
            assertSame(m, src.migrations().outgoing().orElseThrow());
            assertSame(incoming, dst.migrations().incoming().orElseThrow());
            assertEquals(RunState.POSTMIGRATE, from.machine.runState());
            assertEquals(RunState.RUNNING, to.machine.runState(), "autostart: the destination runs the guest on");
        }
        to.machine.pause();
        assertEquals(to.cpu.writes, to.counterSum(), "the guest invariant holds after it ran on at the destination");
        assertEquals(List.of(MigrationStatus.SETUP, MigrationStatus.ACTIVE, MigrationStatus.COMPLETED), statuses(sourceEvents));
        assertTrue(sourceEvents.stream().anyMatch(e -> e instanceof MigrationEvent.Pass p && p.pass() == 1), "MIGRATION_PASS 1");
        assertTrue(sourceEvents.stream().anyMatch(e -> e instanceof MigrationEvent.Stop), "STOP as the switchover stops the guest");
        assertEquals(MigrationStatus.SETUP, statuses(destinationEvents).getFirst(), "setup announced as the destination listens");
        assertEquals(MigrationStatus.COMPLETED, statuses(destinationEvents).getLast());
        assertTrue(destinationEvents.stream().anyMatch(e -> e instanceof MigrationEvent.Resume), "RESUME as the destination starts the guest");
    }

    @Test
    void withoutTheEventsCapabilityOnlyRunStateChangesAreAnnounced() throws Exception {
        var from = guests.guest(0);
        var to = guests.guest(0);
        from.machine.resume();
        try (var dst = destination(to, MigrationConfig.defaults(), new MigrationUri.Tcp("127.0.0.1", 0));
             var src = source(from, MigrationConfig.defaults())) {
            dst.startIncoming();
            Migration m = src.migrate(dst.migrations().incoming().orElseThrow().address());
            assertEquals(MigrationStatus.COMPLETED, m.awaitFinished(60, TimeUnit.SECONDS), m.info().toString());
        }
        assertEquals(List.of(), statuses(sourceEvents));
        assertTrue(sourceEvents.stream().noneMatch(e -> e instanceof MigrationEvent.Pass));
        assertTrue(sourceEvents.stream().anyMatch(e -> e instanceof MigrationEvent.Stop));
    }

    @Test
    void stopAndContAnnounceOnlyRealChanges() throws Exception {
        var g = guests.guest(0);
        try (var c = source(g, MigrationConfig.defaults())) {
            g.machine.resume();
            c.stop();
            c.stop(); // already paused: nothing to announce
            assertEquals(RunState.PAUSED, g.machine.runState());
            c.cont();
            c.cont(); // already running
            assertEquals(RunState.RUNNING, g.machine.runState());
        }
        assertEquals(2, sourceEvents.size(), sourceEvents.toString());
        assertInstanceOf(MigrationEvent.Stop.class, sourceEvents.get(0));
        assertInstanceOf(MigrationEvent.Resume.class, sourceEvents.get(1));
    }

    @Test
    void aGuestHeldInFinishMigrateCannotBeContinued() throws Exception {
        var g = guests.guest(0);
        try (var c = source(g, MigrationConfig.defaults())) {
            g.machine.enter(RunState.FINISH_MIGRATE); // as a switchover holds it while its final state goes out
            var refused = assertThrows(MigrationRefusedException.class, c::cont);
            assertEquals("Migration is not finalized yet", refused.getMessage());
            assertEquals(RunState.FINISH_MIGRATE, g.machine.runState());
        }
    }

    @Test
    void aDestinationRefusesToMigrateOutOrToListenTwice() throws Exception {
        var g = guests.guest(0);
        try (var c = destination(g, MigrationConfig.defaults(), null)) {
            assertEquals("Guest is waiting for an incoming migration",
                    assertThrows(MigrationRefusedException.class, () -> c.migrate("tcp:127.0.0.1:1")).getMessage());
            c.migrateIncoming("tcp:127.0.0.1:0");
            assertEquals("The incoming migration has already been started",
                    assertThrows(MigrationRefusedException.class, () -> c.migrateIncoming("tcp:127.0.0.1:0")).getMessage());
        }
        assertTrue(g.machine.runState() != RunState.RUNNING);
    }

    @Test
    void aSourceIsNoDestination() throws Exception {
        var g = guests.guest(0);
        try (var c = source(g, MigrationConfig.defaults())) {
            assertEquals("'-incoming' was not specified on the command line",
                    assertThrows(MigrationRefusedException.class, () -> c.migrateIncoming("tcp:127.0.0.1:0")).getMessage());
            var notStarted = c.incomingStarted().toCompletableFuture();
            assertTrue(notStarted.isCompletedExceptionally());
        }
    }

    @Test
    void whileAMigrationRunsTheCapabilitiesAndASecondMigrationAreRefusedButParametersRetuneIt() throws Exception {
        var from = guests.guest(50_000); // writes faster than 1 MiB/s moves it: the migration stays active
        var to = guests.guest(0);
        from.start();
        try (var dst = destination(to, MigrationConfig.defaults(), new MigrationUri.Tcp("127.0.0.1", 0));
             var src = source(from, MigrationConfig.defaults())) {
            dst.startIncoming();
            src.setParameters(new LinkedHashMap<>(Map.of(MigrationParameter.MAX_BANDWIDTH, "1048576")));
            Migration m = src.migrate(dst.migrations().incoming().orElseThrow().address());
            LiveGuests.awaitStatus(m, MigrationStatus.ACTIVE);
            assertEquals("There's a migration process in progress",
                    assertThrows(MigrationRefusedException.class, () -> src.migrate("tcp:127.0.0.1:1")).getMessage());
            assertEquals("There's a migration process in progress", assertThrows(MigrationRefusedException.class,
                    () -> src.setCapabilities(Map.of(MigrationCapability.XBZRLE, true))).getMessage());
            assertFalse(src.config().has(MigrationCapability.XBZRLE), "a refused change changes nothing");
            // an operator raises the bandwidth so that it converges: taken by the running migration
            from.dirtyRate(0);
            src.setParameters(new LinkedHashMap<>(Map.of(MigrationParameter.MAX_BANDWIDTH, Long.toString(1L << 32))));
            assertEquals(MigrationStatus.COMPLETED, m.awaitFinished(60, TimeUnit.SECONDS), m.info().toString());
        }
    }

    @Test
    void aBadParameterValueIsRefusedAndNoneOfTheBatchApplies() throws Exception {
        var g = guests.guest(0);
        try (var c = source(g, MigrationConfig.defaults())) {
            var batch = new LinkedHashMap<MigrationParameter, String>();
            batch.put(MigrationParameter.DOWNTIME_LIMIT, "500");
            batch.put(MigrationParameter.MULTIFD_CHANNELS, "0");
            assertThrows(MigrationRefusedException.class, () -> c.setParameters(batch));
            assertEquals(MigrationConfig.defaults().downtimeLimitMs(), c.config().downtimeLimitMs());
        }
    }

    @Test
    void continuingWithoutAMigrationFollowsQemusRule() throws Exception {
        var g = guests.guest(0);
        try (var c = source(g, MigrationConfig.defaults())) {
            c.continueFrom(MigrationStatus.NONE); // QEMU compares with none: accepted
            assertEquals("Migration not in expected state: none",
                    assertThrows(MigrationRefusedException.class, () -> c.continueFrom(MigrationStatus.PRE_SWITCHOVER)).getMessage());
        }
    }

    @Test
    void closingTheControllerCancelsItsMigrationAndTheSourceRunsOn() throws Exception {
        var from = guests.guest(50_000);
        var to = guests.guest(0);
        from.start();
        Migration m;
        var slow = MigrationConfig.defaults().withParameter(MigrationParameter.MAX_BANDWIDTH.qmpName(), "1048576");
        try (var dst = destination(to, MigrationConfig.defaults(), new MigrationUri.Tcp("127.0.0.1", 0));
             var src = source(from, slow)) {
            dst.startIncoming();
            m = src.migrate(dst.migrations().incoming().orElseThrow().address());
            LiveGuests.awaitStatus(m, MigrationStatus.ACTIVE);
        }
        assertEquals(MigrationStatus.CANCELLED, m.status());
        assertEquals(RunState.RUNNING, from.machine.runState(), "a cancelled migration leaves the source running");
    }

    @Test
    void leavingATryBlockEndsTheMigrationAndItsCompletionCarriesTheFinalFigures() throws Exception {
        var from = guests.guest(50_000);
        var to = guests.guest(0);
        from.start();
        var slow = MigrationConfig.defaults().withParameter(MigrationParameter.MAX_BANDWIDTH.qmpName(), "1048576");
        try (var dst = destination(to, MigrationConfig.defaults(), new MigrationUri.Tcp("127.0.0.1", 0));
             var src = source(from, slow)) {
            dst.startIncoming();
            Migration escaped;
            try (Migration m = src.migrate(dst.migrations().incoming().orElseThrow().address())) {
                LiveGuests.awaitStatus(m, MigrationStatus.ACTIVE);
                escaped = m;
            }
            assertEquals(MigrationStatus.CANCELLED, escaped.status(), "closed while active: cancelled, and ended on return");
            var info = escaped.completion().toCompletableFuture().getNow(null);
            assertNotNull(info, "the completion is done once close returns");
            assertEquals(MigrationStatus.CANCELLED, info.status());
            assertEquals(RunState.RUNNING, from.machine.runState());
            var incoming = dst.migrations().incoming().orElseThrow();
            incoming.close();
            assertTrue(incoming.status().isFinal(), "the destination's load ended too: " + incoming.status());
        }
    }
}
