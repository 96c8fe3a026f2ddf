package dev.livemig.qmp;

import dev.livemig.json.Json;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RunState;
import dev.livemig.migration.IncomingMigration;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.testing.Await;
import dev.livemig.transport.MigrationUri;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static dev.livemig.qmp.QmpServerTest.caps;
import static org.junit.jupiter.api.Assertions.*;

/** Migrations driven only through QMP, from a source machine's server to an IncomingMigration in this JVM. */
class QmpMigrationTest {
    private static final Duration WAIT = Await.DEADLINE;

    @TempDir
    Path dir;

    private Machine source;
    private Machine dest;
    private QmpServer server;
    private IncomingMigration incoming;
    private QmpClient qmp;

    @BeforeEach
    void start() throws Exception {
        source = Machine.builder("t").ram("ram", 8 << 20).initialState(RunState.RUNNING).build();
        dest = Machine.builder("t").ram("ram", 8 << 20).build();
        Path socket = dir.resolve("qmp.sock");
        server = QmpServer.start(source, socket, null);
        qmp = QmpClient.connect(socket, WAIT);
        qmp.execute("migrate-set-parameters", Json.object().put("max-bandwidth", 1L << 30).build());
    }

    @AfterEach
    void stop() throws Exception {
        qmp.close();
        server.close();
        if (incoming != null) {
            incoming.cancel();
            incoming.awaitFinished(10, TimeUnit.SECONDS);
        }
        source.close();
        dest.close();
    }

    /** Starts the destination with the capabilities the source will use; returns the uri to give migrate. */
    private String listen(String... capabilities) throws Exception {
        var config = new MigrationConfig(dev.livemig.migration.MigrationCapability.setOf(capabilities), 300, 1L << 30);
        incoming = dev.livemig.testing.Controllers.listen(dest, config, MigrationUri.parse("tcp:127.0.0.1:0"), true);
        return incoming.address().toString();
    }

    private Json.Obj migrate(String uri) throws Exception {
        return (Json.Obj) qmp.execute("migrate", Json.object().put("uri", uri).put("detach", true).build());
    }

    private String nextStatus() throws Exception {
        return qmp.awaitEvent("MIGRATION", WAIT).get("data").orElseThrow().asObject().string("status");
    }

    private String queryStatus() throws Exception {
        return ((Json.Obj) qmp.execute("query-migrate")).get("status").map(Json::asString).orElse("none");
    }

    @Test
    void aWholeMigrationThroughQmpReportsEveryStateInOrder() throws Exception {
        qmp.execute("migrate-set-capabilities", caps("events", true));
        String uri = listen("events");
        assertTrue(migrate(uri).members().isEmpty());
        List<String> seen = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            seen.add(nextStatus());
        }
        // QEMU 7.2 without pause-before-switchover: active until completed, no device
        assertEquals(List.of("setup", "active", "completed"), seen);
        assertEquals(1, qmp.awaitEvent("MIGRATION_PASS", WAIT).get("data").orElseThrow().asObject().number("pass"),
                "the sync at setup is pass 1, as QEMU's");
        qmp.awaitEvent("STOP", WAIT);
        Json.Obj info = (Json.Obj) qmp.execute("query-migrate");
        assertEquals("completed", info.string("status"));
        assertEquals(8L << 20, info.get("ram").orElseThrow().asObject().number("total"));
        assertEquals("postmigrate", ((Json.Obj) qmp.execute("query-status")).string("status"));
        assertEquals(MigrationStatus.COMPLETED, incoming.awaitFinished(30, TimeUnit.SECONDS), incoming.error());
        assertEquals(RunState.RUNNING, dest.runState(), "the source was running, so the destination runs");
        QmpError again = assertThrows(QmpError.class, () -> migrate(uri));
        assertEquals("Can't migrate the vm that was paused due to previous migration", again.desc());
    }

    @Test
    void withoutTheEventsCapabilityNoMigrationEventIsSent() throws Exception {
        migrate(listen());
        Await.value("query-migrate to say completed", this::queryStatus, "completed"::equals);
        qmp.awaitEvent("STOP", WAIT);
        assertTrue(qmp.pendingEvents().stream().noneMatch(e -> e.string("event").startsWith("MIGRATION")),
                qmp.pendingEvents().toString());
    }

    @Test
    void aHeldMigrationRefusesChangesThenContinuesOnRequest() throws Exception {
        qmp.execute("migrate-set-capabilities", caps("events", true, "pause-before-switchover", true));
        migrate(listen("events", "pause-before-switchover"));
        assertEquals("setup", nextStatus());
        assertEquals("active", nextStatus());
        assertEquals("pre-switchover", nextStatus());
        QmpError caps = assertThrows(QmpError.class, () -> qmp.execute("migrate-set-capabilities", caps("events", false)));
        assertEquals("There's a migration process in progress", caps.desc());
        QmpError second = assertThrows(QmpError.class, () -> migrate("tcp:127.0.0.1:1"));
        assertEquals("There's a migration process in progress", second.desc());
        QmpError wrong = assertThrows(QmpError.class, () -> qmp.execute("migrate-continue",
                Json.object().put("state", "active").build()));
        assertEquals("GenericError", wrong.errorClass());
        qmp.execute("migrate-continue", Json.object().put("state", "pre-switchover").build());
        assertEquals("device", nextStatus());
        assertEquals("completed", nextStatus());
    }

    @Test
    void pauseBeforeSwitchoverStopsTheGuestFirstAndContCannotResumeItWhileItsStateIsSent() throws Exception {
        qmp.execute("migrate-set-capabilities", caps("events", true, "pause-before-switchover", true));
        migrate(listen("events", "pause-before-switchover"));
        assertEquals("setup", nextStatus());
        assertEquals("active", nextStatus());
        assertEquals("pre-switchover", nextStatus());
        List<String> order = qmp.pendingEvents().stream().map(e -> e.string("event")).filter(n -> !n.equals("MIGRATION_PASS")).toList();
        assertEquals(List.of("STOP"), order, "the guest stopped before pre-switchover was announced");
        assertEquals("finish-migrate", ((Json.Obj) qmp.execute("query-status")).string("status"));
        QmpError cont = assertThrows(QmpError.class, () -> qmp.execute("cont"));
        assertEquals("Migration is not finalized yet", cont.desc());
        qmp.execute("stop"); // not running: nothing to stop, no event
        assertEquals(RunState.FINISH_MIGRATE, source.runState(), "neither cont nor stop touched the guest being sent");
        qmp.execute("migrate-continue", Json.object().put("state", "pre-switchover").build());
        assertEquals("device", nextStatus());
        assertEquals("completed", nextStatus());
        assertEquals(MigrationStatus.COMPLETED, incoming.awaitFinished(30, TimeUnit.SECONDS), incoming.error());
        assertEquals(1, qmp.pendingEvents().stream().filter(e -> e.string("event").equals("STOP")).count(),
                qmp.pendingEvents().toString());
        assertTrue(qmp.pendingEvents().stream().noneMatch(e -> e.string("event").equals("RESUME")),
                "the source stays stopped: " + qmp.pendingEvents());
    }

    @Test
    void aPausedGuestIsNotStoppedAgainAndEndsInPostmigrate() throws Exception {
        qmp.execute("stop");
        qmp.awaitEvent("STOP", WAIT);
        qmp.execute("migrate-set-capabilities", caps("events", true));
        migrate(listen("events"));
        Await.value("query-migrate to say completed", this::queryStatus, "completed"::equals);
        assertTrue(qmp.pendingEvents().stream().noneMatch(e -> e.string("event").equals("STOP")),
                "QEMU's vm_stop_force_state stops a paused guest silently: " + qmp.pendingEvents());
        assertEquals("postmigrate", ((Json.Obj) qmp.execute("query-status")).string("status"));
    }

    @Test
    void cancelLeavesTheSourceRunning() throws Exception {
        qmp.execute("migrate-set-capabilities", caps("events", true, "pause-before-switchover", true));
        migrate(listen("events", "pause-before-switchover"));
        assertEquals("setup", nextStatus());
        assertEquals("active", nextStatus());
        assertEquals("pre-switchover", nextStatus());
        qmp.execute("migrate_cancel");
        assertEquals("cancelling", nextStatus());
        assertEquals("cancelled", nextStatus());
        assertEquals("cancelled", queryStatus());
        assertEquals("running", ((Json.Obj) qmp.execute("query-status")).string("status"));
        qmp.execute("migrate-set-capabilities", caps("pause-before-switchover", false));
    }
}
