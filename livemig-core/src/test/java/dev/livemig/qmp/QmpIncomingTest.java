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

import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;

import static dev.livemig.qmp.QmpServerTest.caps;
import static org.junit.jupiter.api.Assertions.*;

/** A destination driven through its own QMP server: deferred start, status, run state, events. */
class QmpIncomingTest {
    private static final Duration WAIT = Await.DEADLINE;
    /** 8 MiB at this rate take over two minutes: a migration that is still running whenever the test looks. */
    private static final long CRAWL = 64L << 10;

    @TempDir
    Path dir;

    private Machine source;
    private Machine dest;
    private QmpServer sourceServer;
    private QmpServer destServer;
    private QmpClient src;
    private QmpClient dst;

    @BeforeEach
    void start() throws Exception {
        source = Machine.builder("t").ram("ram", 8 << 20).initialState(RunState.RUNNING).build();
        source.ramBlocks().getFirst().memory().set(ValueLayout.JAVA_LONG, 4096, 0x1122334455667788L);
        dest = Machine.builder("t").ram("ram", 8 << 20).build();
        sourceServer = QmpServer.start(source, dir.resolve("src.sock"), null);
        src = QmpClient.connect(dir.resolve("src.sock"), WAIT);
    }

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : new AutoCloseable[]{src, dst, sourceServer, destServer}) {
            if (c != null) {
                c.close();
            }
        }
        source.close();
        dest.close();
    }

    private void deferredDestination(boolean autostart) throws Exception {
        destServer = QmpServer.builder(dest).unix(dir.resolve("dst.sock")).incoming(null, autostart).start();
        dst = QmpClient.connect(dir.resolve("dst.sock"), WAIT);
    }

    private static Json.Obj obj(Json j) {
        return (Json.Obj) j;
    }

    private String status(QmpClient c) throws Exception {
        return obj(c.execute("query-status")).string("status");
    }

    /** migrate-incoming on port 0, then the real address from the destination's query-migrate. */
    private String listen(String uri) throws Exception {
        dst.execute("migrate-incoming", Json.object().put("uri", uri).build());
        Json.Obj info = obj(dst.execute("query-migrate"));
        assertFalse(info.has("status"), "QEMU's destination stays none until the source connects: " + info);
        Json.Obj address = info.get("socket-address").orElseThrow().asArray().getFirst().asObject();
        return switch (address.string("type")) {
            case "inet" -> "tcp:" + address.string("host") + ":" + address.string("port");
            case "unix" -> "unix:" + address.string("path");
            default -> fail("unexpected socket-address " + address);
        };
    }

    @Test
    void aDeferredDestinationWaitsForMigrateIncomingThenReceives() throws Exception {
        deferredDestination(true);
        assertEquals("inmigrate", status(dst));
        assertTrue(obj(dst.execute("query-migrate")).members().isEmpty(), "nothing started yet");
        assertFalse(destServer.incomingStarted().toCompletableFuture().isDone());
        dst.execute("migrate-set-capabilities", caps("events", true));

        String uri = listen("tcp:127.0.0.1:0");
        assertFalse(uri.endsWith(":0"), uri);
        IncomingMigration in = destServer.incomingStarted().toCompletableFuture().get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertEquals(MigrationUri.parse(uri), in.address());

        src.execute("migrate", Json.object().put("uri", uri).build());
        List<String> seen = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            seen.add(dst.awaitEvent("MIGRATION", WAIT).get("data").orElseThrow().asObject().string("status"));
        }
        assertEquals(List.of("setup", "active", "completed"), seen);
        dst.awaitEvent("RESUME", WAIT);
        assertEquals(MigrationStatus.COMPLETED, in.awaitFinished(30, TimeUnit.SECONDS), in.error());
        assertEquals("running", status(dst), "the source was running and autostart is on");
        assertEquals("completed", obj(dst.execute("query-migrate")).string("status"));
        assertEquals(0x1122334455667788L, dest.ramBlocks().getFirst().memory().get(ValueLayout.JAVA_LONG, 4096));

        QmpError again = assertThrows(QmpError.class, () -> dst.execute("migrate-incoming", Json.object().put("uri", "tcp:127.0.0.1:0").build()));
        assertEquals("The incoming migration has already been started", again.desc());
    }

    @Test
    void withoutTheEventsCapabilityOnlyQemusSetupAnnouncementIsSent() throws Exception {
        deferredDestination(true);
        listen("unix:" + dir.resolve("mig.sock"));
        src.execute("migrate", Json.object().put("uri", "unix:" + dir.resolve("mig.sock")).build());
        IncomingMigration in = destServer.incomingStarted().toCompletableFuture().get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertEquals(MigrationStatus.COMPLETED, in.awaitFinished(30, TimeUnit.SECONDS), in.error());
        dst.awaitEvent("RESUME", WAIT);
        // qemu_start_incoming_migration sends MIGRATION setup whatever the capability says; nothing after it
        var statuses = dst.pendingEvents().stream().filter(e -> e.string("event").equals("MIGRATION"))
                .map(e -> e.get("data").orElseThrow().asObject().string("status")).toList();
        assertEquals(List.of("setup"), statuses, dst.pendingEvents().toString());
    }

    @Test
    void theEventsCapabilitySetOnADestinationAfterMigrateIncomingStillApplies() throws Exception {
        deferredDestination(true);
        String uri = listen("tcp:127.0.0.1:0");
        dst.execute("migrate-set-capabilities", caps("events", true)); // allowed: no outgoing migration runs
        src.execute("migrate", Json.object().put("uri", uri).build());
        IncomingMigration in = destServer.incomingStarted().toCompletableFuture().get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertEquals(MigrationStatus.COMPLETED, in.awaitFinished(30, TimeUnit.SECONDS), in.error());
        List<String> seen = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            seen.add(dst.awaitEvent("MIGRATION", WAIT).get("data").orElseThrow().asObject().string("status"));
        }
        assertEquals(List.of("setup", "active", "completed"), seen, "QEMU reads the capability as each status changes");
    }

    @Test
    void stopDuringInmigrateKeepsTheMachinePausedAfterTheLoadAndContResumesIt() throws Exception {
        deferredDestination(true);
        dst.execute("stop"); // QEMU: clears autostart, no STOP event, still inmigrate
        assertEquals("inmigrate", status(dst));
        String uri = listen("tcp:127.0.0.1:0");
        src.execute("migrate", Json.object().put("uri", uri).build());
        IncomingMigration in = destServer.incomingStarted().toCompletableFuture().get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertEquals(MigrationStatus.COMPLETED, in.awaitFinished(30, TimeUnit.SECONDS), in.error());
        assertEquals("paused", status(dst));
        dst.execute("cont");
        dst.awaitEvent("RESUME", WAIT);
        assertEquals(RunState.RUNNING, dest.runState());
    }

    @Test
    void contDuringInmigrateResumesAfterTheLoadOfAMachineStartedPaused() throws Exception {
        deferredDestination(false);
        dst.execute("cont");
        assertEquals("inmigrate", status(dst), "cont only arms autostart while waiting");
        String uri = listen("tcp:127.0.0.1:0");
        src.execute("migrate", Json.object().put("uri", uri).build());
        IncomingMigration in = destServer.incomingStarted().toCompletableFuture().get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertEquals(MigrationStatus.COMPLETED, in.awaitFinished(30, TimeUnit.SECONDS), in.error());
        dst.awaitEvent("RESUME", WAIT);
        assertEquals("running", status(dst));
    }

    @Test
    void aDestinationRefusesToMigrateOutAndAnUnusableUriLeavesMigrateIncomingUsable() throws Exception {
        deferredDestination(true);
        QmpError out = assertThrows(QmpError.class, () -> dst.execute("migrate", Json.object().put("uri", "tcp:127.0.0.1:1").build()));
        assertEquals("Guest is waiting for an incoming migration", out.desc());
        QmpError bad = assertThrows(QmpError.class, () -> dst.execute("migrate-incoming", Json.object().put("uri", "carrier-pigeon:coop").build()));
        assertEquals("GenericError", bad.errorClass());
        QmpError busy = assertThrows(QmpError.class, () -> dst.execute("migrate-incoming",
                Json.object().put("uri", "unix:" + dir.resolve("no-such-dir").resolve("x.sock")).build()));
        assertEquals("GenericError", busy.errorClass());
        assertFalse(destServer.incomingStarted().toCompletableFuture().isDone());
        String uri = listen("tcp:127.0.0.1:0"); // a good URI still works
        src.execute("migrate", Json.object().put("uri", uri).build());
        IncomingMigration in = destServer.incomingStarted().toCompletableFuture().get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertEquals(MigrationStatus.COMPLETED, in.awaitFinished(30, TimeUnit.SECONDS), in.error());
    }

    @Test
    void aDestinationGivenItsUriListensAtOnceAndRefusesMigrateIncoming() throws Exception {
        destServer = QmpServer.builder(dest).unix(dir.resolve("dst.sock"))
                .config(new MigrationConfig(java.util.Set.of(dev.livemig.migration.MigrationCapability.EVENTS), 300, 1L << 30))
                .incoming(MigrationUri.parse("tcp:127.0.0.1:0"), true).start();
        dst = QmpClient.connect(dir.resolve("dst.sock"), WAIT);
        IncomingMigration in = destServer.incomingStarted().toCompletableFuture().get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertEquals(MigrationStatus.NONE, in.status(), "listening, no source yet");
        QmpError again = assertThrows(QmpError.class, () -> dst.execute("migrate-incoming", Json.object().put("uri", "tcp:127.0.0.1:0").build()));
        assertEquals("The incoming migration has already been started", again.desc());
        src.execute("migrate", Json.object().put("uri", in.address().toString()).build());
        // setup happened before this client connected; events reach only clients present
        assertEquals("active", dst.awaitEvent("MIGRATION", WAIT).get("data").orElseThrow().asObject().string("status"),
                "the events capability came from the server's initial configuration");
        assertEquals(MigrationStatus.COMPLETED, in.awaitFinished(30, TimeUnit.SECONDS), in.error());
    }

    @Test
    void migrateIncomingListensBehindTheHandshakeGateTheServerWasGiven() throws Exception {
        var gate = new dev.livemig.transport.HandshakeGate(Duration.ofMillis(200));
        destServer = QmpServer.builder(dest).unix(dir.resolve("dst.sock")).incoming(null, true, gate).start();
        dst = QmpClient.connect(dir.resolve("dst.sock"), WAIT);
        var address = (MigrationUri.Tcp) MigrationUri.parse(listen("tcp:127.0.0.1:0"));
        try (var squatter = java.nio.channels.SocketChannel.open(new java.net.InetSocketAddress(address.host(), address.port()))) {
            // the default gate would hold a silent peer for 10 s; this one lets go after 200 ms, so long before
            // that the squatter sees its connection closed, however loaded the machine
            squatter.socket().setSoTimeout((int) dev.livemig.transport.HandshakeGate.DEFAULT_TIMEOUT.toMillis() / 2);
            var in = squatter.socket().getInputStream();
            assertEquals(-1, in.read(), "the silent peer was dropped by the server's gate");
        }
        src.execute("migrate", Json.object().put("uri", address.toString()).build());
        IncomingMigration in = destServer.incomingStarted().toCompletableFuture().get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertEquals(MigrationStatus.COMPLETED, in.awaitFinished(30, TimeUnit.SECONDS), in.error());
    }

    @Test
    void quitBeforeMigrateIncomingTellsTheOwnerNoMigrationWillCome() throws Exception {
        deferredDestination(true);
        dst.execute("quit");
        assertTrue(destServer.awaitClosed(WAIT));
        var failure = assertThrows(CompletionException.class, () -> destServer.incomingStarted().toCompletableFuture().join());
        assertTrue(failure.getCause().getMessage().contains("closed before the incoming migration started"), failure.getCause().getMessage());
    }

    @Test
    void misbehavingClientsDoNotDisturbARunningMigration() throws Exception {
        fillSourceWithoutZeroPages();
        deferredDestination(true);
        String uri = listen("tcp:127.0.0.1:0");
        src.execute("migrate-set-parameters", Json.object().put("max-bandwidth", CRAWL).build());
        src.execute("migrate", Json.object().put("uri", uri).build());
        awaitSourceStatus("active");
        var address = java.net.UnixDomainSocketAddress.of(dir.resolve("src.sock"));
        try (var garbage = new RawQmp(address).negotiated()) {
            assertTrue(RawQmp.desc(garbage.ask("{\"execute\": }")).startsWith("JSON parse error"));
            assertEquals("The command warp has not been found", RawQmp.desc(garbage.ask("{\"execute\": \"warp\"}")));
        }
        try (var big = new RawQmp(address).negotiated()) {
            big.send("{\"execute\": \"query-migrate\", \"id\": \"" + "x".repeat(QmpServer.MAX_MESSAGE_BYTES) + "\"}");
            assertTrue(RawQmp.desc(big.message()).startsWith("JSON message exceeds"));
            assertEquals(RawQmp.EOF, big.line(), "dropped after the refusal");
        }
        try (var vanishing = new RawQmp(address).negotiated()) {
            vanishing.send("{\"execute\": \"migrate-set-par"); // and gone
        }
        assertEquals("active", obj(src.execute("query-migrate")).string("status"), "still migrating");
        src.execute("migrate-set-parameters", Json.object().put("max-bandwidth", 1L << 30).build());
        IncomingMigration in = destServer.incomingStarted().toCompletableFuture().get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertEquals(MigrationStatus.COMPLETED, in.awaitFinished(30, TimeUnit.SECONDS), in.error());
        assertEquals(source.ramBlocks().getFirst().memory().mismatch(dest.ramBlocks().getFirst().memory()), -1L,
                "every byte arrived");
    }

    private long transferred() throws Exception {
        return obj(src.execute("query-migrate")).get("ram").map(r -> r.asObject().number("transferred")).orElse(0L);
    }

    private void awaitSourceStatus(String status) throws Exception {
        Await.value("the source's query-migrate to say " + status, () -> obj(src.execute("query-migrate")).string("status"),
                status::equals);
    }

    private void fillSourceWithoutZeroPages() {
        var ram = source.ramBlocks().getFirst().memory();
        for (long off = 0; off < ram.byteSize(); off += 8) {
            ram.set(ValueLayout.JAVA_LONG, off, off * 0x9E3779B97F4A7C15L | 1);
        }
    }

    @Test
    void maxBandwidthAndDowntimeLimitChangeARunningMigration() throws Exception {
        deferredDestination(true);
        fillSourceWithoutZeroPages();
        String uri = listen("tcp:127.0.0.1:0");
        // 8 MiB at CRAWL would take over two minutes; raising the limit mid-way finishes it long before
        src.execute("migrate-set-parameters", Json.object().put("max-bandwidth", CRAWL).build());
        src.execute("migrate-set-capabilities", caps("events", true));
        src.execute("migrate", Json.object().put("uri", uri).build());
        while (!"active".equals(src.awaitEvent("MIGRATION", WAIT).get("data").orElseThrow().asObject().string("status"))) {
            // setup first
        }
        // a second's worth of pages went: it moves, at the limit set before it started
        long sent = Await.value("the migration to move a second's worth of pages", () -> transferred(),
                bytes -> bytes >= CRAWL);
        assertTrue(sent < 4L << 20, "still throttled: " + sent + " bytes, which take a minute at " + CRAWL + " bytes/s");
        src.execute("migrate-set-parameters", Json.object().put("max-bandwidth", 1L << 30).put("downtime-limit", 500).build());
        assertEquals(500, obj(src.execute("query-migrate-parameters")).number("downtime-limit"));
        IncomingMigration in = destServer.incomingStarted().toCompletableFuture().get(WAIT.toSeconds(), TimeUnit.SECONDS);
        // well within the minute the old limit would still need for the half left, however busy the machine
        assertEquals(MigrationStatus.COMPLETED, in.awaitFinished(WAIT.toSeconds(), TimeUnit.SECONDS),
                "the new limit applied: " + in.status());
    }
}
