package dev.livemig.qmp;

import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;
import dev.livemig.machine.LiveStateHandler;
import dev.livemig.migration.HoldingDevice;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RunState;
import dev.livemig.migration.IncomingMigration;
import dev.livemig.migration.Migration;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.testing.Await;
import dev.livemig.transport.MigrationUri;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Stream;

import static dev.livemig.qmp.QmpServerTest.caps;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Every migration command in every migration status, on the source and on the destination, answered as QEMU
 * 7.2 answers it (migration.c's migrate_prepare, qmp_migrate_set_capabilities, qmp_migrate_continue,
 * qmp_migrate_incoming, fill_*_migration_info; qmp-cmds.c's qmp_cont and qmp_stop). Each cell starts from a
 * fresh machine held in its status: a device that blocks in one phase of the migration keeps it there.
 */
class QmpMigrationStateRulesTest {
    private static final Duration WAIT = Await.DEADLINE;
    private static final String IN_PROGRESS = "There's a migration process in progress";
    private static final String OK = "";

    @TempDir
    Path dir;

    /** Where a source is held while a command is tried. */
    enum Source {
        NONE, SETUP, ACTIVE, PRE_SWITCHOVER, DEVICE, CANCELLING, COMPLETED, FAILED, CANCELLED;

        String qemuName() {
            return MigrationStatus.valueOf(name()).qemuName();
        }

        boolean running() { // QEMU's migration_is_running
            return EnumSet.of(SETUP, ACTIVE, PRE_SWITCHOVER, DEVICE, CANCELLING).contains(this);
        }

        boolean finishMigrate() { // the guest is stopped for the switchover
            return this == PRE_SWITCHOVER || this == DEVICE;
        }
    }

    /** Where a destination is held: before migrate-incoming, listening, loading, done, failed on a bad stream. */
    enum Destination { DEFERRED, LISTENING, ACTIVE, COMPLETED, FAILED }

    /** livemig's own rule where QEMU's destination exits: a failed load leaves nothing to run or migrate. */
    private static final String NO_COMPLETE_GUEST = "the incoming migration failed: this destination holds no complete guest; "
            + "start a new destination";

    /** One command and QEMU's answer to it in each status: "" for success, else the error text. */
    private record Rule<S>(String command, Function<S, Json.Obj> args, Function<S, String> answer) {
        static <S> Rule<S> of(String command, Json.Obj args, Function<S, String> answer) {
            return new Rule<>(command, s -> args, answer);
        }
    }

    private static final Json.Obj NO_ARGS = null;

    private static List<Rule<Source>> sourceRules() {
        return List.of(
                Rule.of("stop", NO_ARGS, s -> OK),
                Rule.of("cont", NO_ARGS, s -> s.finishMigrate() ? "Migration is not finalized yet" : OK),
                Rule.of("migrate", uri(deadPort()), s -> s.running() ? IN_PROGRESS
                        : s == Source.COMPLETED ? "Can't migrate the vm that was paused due to previous migration" : OK),
                Rule.of("migrate-set-capabilities", caps("events", false), s -> s.running() ? IN_PROGRESS : OK),
                Rule.of("migrate-set-parameters", Json.object().put("downtime-limit", 400).build(), s -> OK),
                Rule.of("migrate_cancel", NO_ARGS, s -> OK),
                Rule.of("migrate-continue", state("pre-switchover"),
                        s -> s == Source.PRE_SWITCHOVER ? OK : "Migration not in expected state: " + s.qemuName()),
                new Rule<>("migrate-continue", s -> state(s.qemuName()), s -> OK),
                Rule.of("migrate-incoming", uri("tcp:127.0.0.1:0"), s -> "'-incoming' was not specified on the command line"),
                Rule.of("query-migrate", NO_ARGS, s -> OK),
                Rule.of("query-status", NO_ARGS, s -> OK));
    }

    private static List<Rule<Destination>> destinationRules() {
        return List.of(
                Rule.of("stop", NO_ARGS, d -> OK),
                Rule.of("cont", NO_ARGS, d -> d == Destination.FAILED ? NO_COMPLETE_GUEST : OK),
                Rule.of("migrate", uri(deadPort()), d -> switch (d) {
                    case COMPLETED -> OK;
                    case FAILED -> NO_COMPLETE_GUEST;
                    default -> "Guest is waiting for an incoming migration";
                }),
                Rule.of("migrate-incoming", uri("tcp:127.0.0.1:0"),
                        d -> d == Destination.DEFERRED ? OK : "The incoming migration has already been started"),
                Rule.of("migrate-set-capabilities", caps("events", true), d -> OK),
                Rule.of("migrate-set-parameters", Json.object().put("downtime-limit", 400).build(), d -> OK),
                Rule.of("migrate_cancel", NO_ARGS, d -> OK),
                // QEMU compares with the outgoing status, which is none on a destination
                Rule.of("migrate-continue", state("none"), d -> OK),
                Rule.of("migrate-continue", state("active"), d -> "Migration not in expected state: none"),
                Rule.of("query-migrate", NO_ARGS, d -> OK),
                Rule.of("query-status", NO_ARGS, d -> OK));
    }

    static Stream<Arguments> sourceCells() {
        List<Arguments> cells = new ArrayList<>();
        for (Source s : Source.values()) {
            for (Rule<Source> r : sourceRules()) {
                cells.add(Arguments.of(s, r.command(), r.args().apply(s), r.answer().apply(s)));
            }
        }
        return cells.stream();
    }

    static Stream<Arguments> destinationCells() {
        List<Arguments> cells = new ArrayList<>();
        for (Destination d : Destination.values()) {
            for (Rule<Destination> r : destinationRules()) {
                cells.add(Arguments.of(d, r.command(), r.args().apply(d), r.answer().apply(d)));
            }
        }
        return cells.stream();
    }

    @ParameterizedTest(name = "source {0}: {1} {2}")
    @MethodSource("sourceCells")
    void aSourceAnswersAsQemu(Source status, String command, Json.Obj args, String expected) throws Exception {
        try (var rig = new SourceRig(dir)) {
            rig.hold(status);
            Json reply = answer(rig.qmp, command, args, expected);
            switch (command) {
                case "query-migrate" -> assertSourceInfo(status, (Json.Obj) reply);
                case "query-status" -> assertEquals(status.finishMigrate() ? "finish-migrate"
                        : status == Source.COMPLETED ? "postmigrate" : "running", ((Json.Obj) reply).string("status"));
                case "cont", "stop" -> {
                    if (status.finishMigrate()) {
                        assertEquals(RunState.FINISH_MIGRATE, rig.source.runState(), "the switchover keeps the guest stopped");
                    }
                }
                default -> { }
            }
        }
    }

    @ParameterizedTest(name = "destination {0}: {1} {2}")
    @MethodSource("destinationCells")
    void aDestinationAnswersAsQemu(Destination status, String command, Json.Obj args, String expected) throws Exception {
        try (var rig = new DestinationRig(dir)) {
            rig.hold(status);
            Json reply = answer(rig.qmp, command, args, expected);
            switch (command) {
                case "query-migrate" -> assertDestinationInfo(status, (Json.Obj) reply);
                case "query-status" -> assertEquals(switch (status) {
                    case COMPLETED -> "running";
                    case FAILED -> "paused";
                    default -> "inmigrate";
                }, ((Json.Obj) reply).string("status"));
                default -> { }
            }
        }
    }

    /** Runs the command; asserts success or QEMU's GenericError with its text. */
    private static Json answer(QmpClient qmp, String command, Json.Obj args, String expected) throws Exception {
        if (expected.isEmpty()) {
            return qmp.execute(command, args);
        }
        QmpError e = assertThrows(QmpError.class, () -> qmp.execute(command, args));
        assertEquals("GenericError", e.errorClass());
        assertEquals(expected, e.desc());
        return null;
    }

    /** fill_source_migration_info: none is {}, setup and cancelled only the status, failed also why. */
    private static void assertSourceInfo(Source s, Json.Obj info) {
        Set<String> keys = new java.util.TreeSet<>();
        info.members().forEach(m -> keys.add(m.name()));
        switch (s) {
            case NONE -> assertEquals(Set.of(), keys);
            case SETUP, CANCELLED -> assertEquals(Set.of("status"), keys);
            case FAILED -> assertEquals(Set.of("status", "error-desc"), keys);
            case COMPLETED -> assertEquals(Set.of("status", "setup-time", "total-time", "downtime", "ram"), keys);
            default -> assertEquals(Set.of("status", "setup-time", "total-time", "expected-downtime", "ram"), keys);
        }
        if (s != Source.NONE) {
            assertEquals(s.qemuName(), info.string("status"));
        }
    }

    /** fill_destination_migration_info: the address while listening, the status once the source connected. */
    private static void assertDestinationInfo(Destination d, Json.Obj info) {
        Set<String> keys = new java.util.TreeSet<>();
        info.members().forEach(m -> keys.add(m.name()));
        switch (d) {
            case DEFERRED -> assertEquals(Set.of(), keys);
            case LISTENING -> assertEquals(Set.of("socket-address"), keys);
            case ACTIVE -> assertEquals(Set.of("socket-address", "status"), keys);
            case COMPLETED -> assertEquals(Set.of("status"), keys);
            case FAILED -> assertEquals(Set.of("status", "error-desc"), keys);
        }
        if (d != Destination.DEFERRED && d != Destination.LISTENING) {
            assertEquals(d.name().toLowerCase(), info.string("status"));
        }
    }

    private static Json.Obj uri(String uri) {
        return Json.object().put("uri", uri).build();
    }

    private static Json.Obj state(String state) {
        return Json.object().put("state", state).build();
    }

    /** A loopback port nothing listens on (bound and closed again). */
    private static String deadPort() {
        try (var s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return "tcp:127.0.0.1:" + s.getLocalPort();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static Machine machine(RunState initial, LiveStateHandler device) {
        Machine m = Machine.builder("t").ram("ram", 1 << 20).initialState(initial).build();
        m.devices().registerLive("holding", 0, 1, device);
        return m;
    }

    /** A source machine served over QMP; an in-JVM destination for it; the device that holds a phase. */
    private static final class SourceRig implements AutoCloseable {
        final Machine source;
        final Machine dest = machine(RunState.PAUSED, new HoldingDevice(HoldingDevice.Phase.NONE));
        final QmpServer server;
        final QmpClient qmp;
        private HoldingDevice holding = new HoldingDevice(HoldingDevice.Phase.NONE);
        private IncomingMigration incoming;

        SourceRig(Path dir) throws Exception {
            source = Machine.builder("t").ram("ram", 1 << 20).initialState(RunState.RUNNING).build();
            server = QmpServer.start(source, dir.resolve("src.sock"), null);
            qmp = QmpClient.connect(dir.resolve("src.sock"), WAIT);
            qmp.execute("migrate-set-parameters", Json.object().put("max-bandwidth", 1L << 30).build());
        }

        void hold(Source status) throws Exception {
            holding = new HoldingDevice(switch (status) {
                case SETUP -> HoldingDevice.Phase.SETUP;
                case ACTIVE, CANCELLING, CANCELLED -> HoldingDevice.Phase.ITERATE;
                case DEVICE -> HoldingDevice.Phase.COMPLETE;
                default -> HoldingDevice.Phase.NONE;
            });
            source.devices().registerLive("holding", 0, 1, holding);
            if (status == Source.PRE_SWITCHOVER || status == Source.DEVICE) {
                qmp.execute("migrate-set-capabilities", caps("pause-before-switchover", true));
            }
            switch (status) {
                case NONE -> { }
                case FAILED -> {
                    qmp.execute("migrate", uri(deadPort()));
                    awaitStatus("failed");
                }
                default -> {
                    incoming = dev.livemig.testing.Controllers.listen(dest, MigrationConfig.defaults(), MigrationUri.parse("tcp:127.0.0.1:0"), true);
                    qmp.execute("migrate", uri(incoming.address().toString()));
                    switch (status) {
                        case SETUP, ACTIVE -> holding.awaitEntered();
                        case PRE_SWITCHOVER -> awaitStatus("pre-switchover");
                        case DEVICE -> {
                            awaitStatus("pre-switchover");
                            qmp.execute("migrate-continue", state("pre-switchover"));
                            holding.awaitEntered();
                        }
                        case CANCELLING -> {
                            holding.awaitEntered();
                            qmp.execute("migrate_cancel");
                        }
                        case CANCELLED -> {
                            holding.awaitEntered();
                            qmp.execute("migrate_cancel");
                            holding.release();
                            awaitStatus("cancelled");
                        }
                        case COMPLETED -> awaitStatus("completed");
                        default -> throw new AssertionError(status);
                    }
                }
            }
            assertEquals(status == Source.NONE ? "none" : status.qemuName(), status(), "held in " + status);
        }

        private String status() throws Exception {
            return ((Json.Obj) qmp.execute("query-migrate")).get("status").map(Json::asString).orElse("none");
        }

        private void awaitStatus(String wanted) throws Exception {
            Await.value("query-migrate to say " + wanted, this::status, wanted::equals);
        }

        @Override
        public void close() throws Exception {
            holding.release();
            qmp.close();
            server.close(); // cancels and waits for a migration still running
            if (incoming != null) {
                incoming.cancel();
                incoming.awaitFinished(WAIT.toMillis(), TimeUnit.MILLISECONDS);
            }
            source.close();
            dest.close();
        }
    }

    /** A deferred destination served over QMP; an in-JVM source whose device holds it mid-stream. */
    private static final class DestinationRig implements AutoCloseable {
        final HoldingDevice holding = new HoldingDevice(HoldingDevice.Phase.ITERATE);
        final Machine source = machine(RunState.RUNNING, holding);
        final Machine dest = machine(RunState.PAUSED, new HoldingDevice(HoldingDevice.Phase.NONE));
        final QmpServer server;
        final QmpClient qmp;
        private Migration migration;

        DestinationRig(Path dir) throws Exception {
            server = QmpServer.builder(dest).unix(dir.resolve("dst.sock")).incoming(null, true).start();
            qmp = QmpClient.connect(dir.resolve("dst.sock"), WAIT);
        }

        void hold(Destination status) throws Exception {
            if (status == Destination.DEFERRED) {
                return;
            }
            qmp.execute("migrate-incoming", uri("tcp:127.0.0.1:0"));
            if (status == Destination.LISTENING) {
                return;
            }
            Json.Obj address = ((Json.Obj) qmp.execute("query-migrate")).array("socket-address").getFirst().asObject();
            if (status == Destination.FAILED) {
                try (var peer = java.nio.channels.SocketChannel.open(new java.net.InetSocketAddress(address.string("host"),
                        Integer.parseInt(address.string("port"))))) {
                    peer.write(java.nio.ByteBuffer.wrap("not a migration stream".getBytes(java.nio.charset.StandardCharsets.US_ASCII)));
                }
            } else {
                migration = dev.livemig.testing.Controllers.migrate(source, new MigrationConfig(Set.of(), 300, 1L << 30),
                        MigrationUri.parse("tcp:" + address.string("host") + ":" + address.string("port")));
                holding.awaitEntered();
                if (status == Destination.COMPLETED) {
                    holding.release();
                    assertEquals(MigrationStatus.COMPLETED, migration.awaitFinished(WAIT.toMillis(), TimeUnit.MILLISECONDS));
                }
            }
            String wanted = status.name().toLowerCase();
            Await.value("the destination to say " + wanted, () -> JsonWriter.compact(qmp.execute("query-migrate")),
                    s -> s.contains("\"status\": \"" + wanted + "\""));
        }

        @Override
        public void close() throws Exception {
            holding.release();
            if (migration != null) {
                migration.cancel();
                migration.awaitFinished(WAIT.toMillis(), TimeUnit.MILLISECONDS);
            }
            qmp.close();
            server.close();
            source.close();
            dest.close();
        }
    }
}
