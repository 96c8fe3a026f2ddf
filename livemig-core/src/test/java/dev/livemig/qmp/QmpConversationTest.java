package dev.livemig.qmp;

import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RunState;
import dev.livemig.qemu.QemuOptions;
import dev.livemig.qemu.QemuProcess;
import dev.livemig.qemu.QemuVersion;
import dev.livemig.testing.Await;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The same QMP conversations held with two QEMU processes (7.2, then 10.0) and with two livemig machines of that
 * release's machine type: the replies
 * (shape, error class and text) and the events (name and status) must be the same. Figures are left out
 * (they are measurements), and so are the few members whose values are a property of the run (ports,
 * times); everything QEMU decides by rule is compared. Waits are on events, with generous deadlines.
 */
@Tag("qemu")
class QmpConversationTest {
    private static final Duration WAIT = Await.DEADLINE;
    /** The events these flows are about; QEMU may add unrelated ones (none seen with -nodefaults). */
    private static final Set<String> COMPARED_EVENTS = Set.of("MIGRATION", "MIGRATION_PASS", "STOP", "RESUME");

    @TempDir
    Path dir;

    @BeforeAll
    static void qemuInstalled() {
        assertTrue(QemuProcess.available(), "qemu-system-x86_64 is not on PATH: run ./test, which installs it");
    }

    /** One conversation, run against QEMU then livemig. */
    @FunctionalInterface
    private interface Flow {
        void run(Conversation c, Endpoint source, Endpoint destination) throws Exception;
    }

    /** A QMP peer of either kind. */
    private interface Endpoint extends AutoCloseable {
        QmpClient qmp();

        @Override
        void close();
    }

    private record Qemu(QemuProcess process) implements Endpoint {
        @Override
        public QmpClient qmp() {
            return process.qmp();
        }

        @Override
        public void close() {
            process.close();
        }
    }

    private record Livemig(Machine machine, QmpServer server, QmpClient qmp) implements Endpoint {
        @Override
        public void close() {
            qmp.close();
            server.close();
            machine.close();
        }
    }

    /** The flow with two QEMU {@code v} and with two livemig machines of v's machine type (so v's dialect). */
    private void assertSameConversation(QemuVersion v, Flow flow) throws Exception {
        String qemu = converse(v, flow, true);
        String livemig = converse(v, flow, false);
        assertEquals(qemu, livemig, "livemig's conversation differs from QEMU " + v.label() + "'s");
    }

    private String converse(QemuVersion v, Flow flow, boolean qemu) throws Exception {
        var c = new Conversation();
        try (Endpoint src = qemu ? new Qemu(QemuProcess.start(QemuOptions.paused("pc").withPaused(false).on(v)))
                : livemigMachine(v, "src", false);
             Endpoint dst = qemu ? new Qemu(QemuProcess.start(QemuOptions.incoming("pc", "defer").on(v)))
                     : livemigMachine(v, "dst", true)) {
            flow.run(c, src, dst);
        }
        return c.text();
    }

    private Livemig livemigMachine(QemuVersion v, String name, boolean destination) throws Exception {
        Path socket = Files.createDirectories(dir.resolve(name)).resolve("qmp.sock");
        Machine m = Machine.builder(v.machineType("pc")).ram("ram", 8 << 20)
                .initialState(destination ? RunState.PAUSED : RunState.RUNNING).build();
        try {
            var b = QmpServer.builder(m).unix(socket);
            QmpServer server = (destination ? b.incoming(null, true) : b).start();
            try {
                return new Livemig(m, server, QmpClient.connect(socket, WAIT));
            } catch (IOException | RuntimeException e) {
                server.close();
                throw e;
            }
        } catch (Exception e) {
            m.close();
            throw e;
        }
    }

    // ---- the flows ----

    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void aPlainMigrationWithEventsMatchesQemu(QemuVersion v) throws Exception {
        assertSameConversation(v, (c, src, dst) -> {
            String uri = prepare(c, src, dst, false);
            c.ask("src", src, "migrate", Json.object().put("uri", uri).build());
            c.awaitStatus(src, "completed");
            c.awaitStatus(dst, "completed");
            c.ask("src", src, "query-migrate");
            c.ask("dst", dst, "query-migrate");
            c.ask("src", src, "query-status");
            c.ask("dst", dst, "query-status");
            c.ask("src", src, "migrate", Json.object().put("uri", uri).build());
            c.events("src", src);
            c.events("dst", dst);
        });
    }

    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void aPausedGuestMigratesWithoutAnotherStopAndStaysPausedOnBothEnds(QemuVersion v) throws Exception {
        assertSameConversation(v, (c, src, dst) -> {
            String uri = prepare(c, src, dst, false);
            c.ask("src", src, "stop");
            c.ask("src", src, "stop");
            c.ask("src", src, "migrate", Json.object().put("uri", uri).build());
            c.awaitStatus(src, "completed");
            c.awaitStatus(dst, "completed");
            c.ask("src", src, "query-status");
            c.ask("dst", dst, "query-status");
            c.events("src", src);
            c.events("dst", dst);
        });
    }

    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void pauseBeforeSwitchoverHoldsAStoppedGuestAndRefusesWhatQemuRefuses(QemuVersion v) throws Exception {
        assertSameConversation(v, (c, src, dst) -> {
            String uri = prepare(c, src, dst, true);
            c.ask("src", src, "migrate-continue", Json.object().put("state", "active").build());
            c.ask("src", src, "migrate-continue", Json.object().put("state", "none").build());
            c.ask("src", src, "migrate", Json.object().put("uri", uri).build());
            c.awaitStatus(src, "pre-switchover");
            c.ask("src", src, "query-migrate");
            c.ask("dst", dst, "query-migrate");
            c.ask("src", src, "query-status");
            c.ask("src", src, "cont");
            c.ask("src", src, "stop");
            c.ask("src", src, "migrate", Json.object().put("uri", uri).build());
            c.ask("src", src, "migrate-set-capabilities", caps("pause-before-switchover", false));
            c.ask("src", src, "migrate-set-parameters", Json.object().put("downtime-limit", 300).build());
            c.ask("src", src, "migrate-continue", Json.object().put("state", "active").build());
            c.ask("dst", dst, "query-status");
            c.ask("dst", dst, "stop");
            c.ask("dst", dst, "cont");
            c.ask("dst", dst, "migrate-incoming", Json.object().put("uri", "tcp:127.0.0.1:0").build());
            c.ask("src", src, "migrate-continue", Json.object().put("state", "pre-switchover").build());
            c.awaitStatus(src, "completed");
            c.awaitStatus(dst, "completed");
            c.ask("src", src, "query-migrate");
            c.ask("src", src, "query-status");
            c.ask("dst", dst, "query-status");
            c.ask("src", src, "migrate-continue", Json.object().put("state", "completed").build());
            c.ask("src", src, "cont"); // postmigrate may be continued: the operator takes the source back
            c.ask("src", src, "query-status");
            c.events("src", src);
            c.events("dst", dst);
        });
    }

    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void cancelInPreSwitchoverResumesTheSourceAndLeavesOnlyTheStatus(QemuVersion v) throws Exception {
        assertSameConversation(v, (c, src, dst) -> {
            String uri = prepare(c, src, dst, true);
            c.ask("src", src, "migrate", Json.object().put("uri", uri).build());
            c.awaitStatus(src, "pre-switchover");
            c.ask("src", src, "migrate_cancel");
            c.awaitStatus(src, "cancelled");
            c.ask("src", src, "query-migrate");
            c.ask("src", src, "query-status");
            c.ask("src", src, "migrate_cancel");
            c.events("src", src);
            // the destination is left out from here: QEMU 7.2's exits when its load fails, livemig's stays
        });
    }

    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void aMigrationToADeadPeerFailsWithStatusAndReasonOnly(QemuVersion v) throws Exception {
        assertSameConversation(v, (c, src, dst) -> {
            int port;
            try (var s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
                port = s.getLocalPort(); // closed again: nothing listens there any more
            }
            c.ask("src", src, "migrate-set-capabilities", caps("events", true));
            c.ask("src", src, "migrate", Json.object().put("uri", "tcp:127.0.0.1:" + port).build());
            c.awaitStatus(src, "failed");
            c.ask("src", src, "query-migrate");
            c.ask("src", src, "query-status");
            // an unknown protocol is refused, yet leaves a migration that was set up and failed
            c.ask("src", src, "migrate", Json.object().put("uri", "carrier-pigeon:coop").build());
            c.ask("src", src, "query-migrate");
            c.ask("src", src, "migrate-continue", Json.object().put("state", "bogus").build());
            c.events("src", src);
        });
    }

    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void aFreshDestinationShowsOnlyItsAddressUntilTheSourceConnects(QemuVersion v) throws Exception {
        assertSameConversation(v, (c, src, dst) -> {
            c.ask("dst", dst, "query-migrate");
            c.ask("dst", dst, "query-status");
            c.ask("dst", dst, "migrate-continue", Json.object().put("state", "none").build());
            c.ask("dst", dst, "migrate", Json.object().put("uri", "tcp:127.0.0.1:1").build());
            c.ask("dst", dst, "migrate-incoming", Json.object().put("uri", "tcp:127.0.0.1:0").build());
            c.ask("dst", dst, "query-migrate");
            c.ask("dst", dst, "migrate-incoming", Json.object().put("uri", "tcp:127.0.0.1:0").build());
            c.ask("src", src, "migrate-incoming", Json.object().put("uri", "tcp:127.0.0.1:0").build());
            c.ask("src", src, "query-migrate");
            c.ask("src", src, "migrate_cancel");
            c.events("dst", dst);
        });
    }

    /**
     * Both ends get the events capability and unlimited bandwidth (the source also pause-before-switchover
     * when asked); the destination listens on a free port. Returns the URI for migrate.
     */
    private static String prepare(Conversation c, Endpoint src, Endpoint dst, boolean hold) throws Exception {
        c.ask("src", src, "migrate-set-capabilities", hold ? caps("events", true, "pause-before-switchover", true) : caps("events", true));
        c.ask("src", src, "migrate-set-parameters", Json.object().put("max-bandwidth", 1L << 40).build());
        c.ask("dst", dst, "migrate-set-capabilities", caps("events", true));
        c.ask("dst", dst, "migrate-incoming", Json.object().put("uri", "tcp:127.0.0.1:0").build());
        Json.Obj info = (Json.Obj) c.ask("dst", dst, "query-migrate");
        Json.Obj address = info.array("socket-address").getFirst().asObject();
        return "tcp:" + address.string("host") + ":" + address.string("port");
    }

    private static Json.Obj caps(Object... nameState) {
        return QmpServerTest.caps(nameState);
    }

    /** What was said, normalised to what QEMU decides by rule. */
    private static final class Conversation {
        private final List<String> lines = new ArrayList<>();

        Json ask(String who, Endpoint e, String command) throws Exception {
            return ask(who, e, command, null);
        }

        /** Sends a command, records it and the reply's shape; returns the return value, or null for an error. */
        Json ask(String who, Endpoint e, String command, Json.Obj args) throws Exception {
            // the port a destination listens on is the kernel's choice
            lines.add(who + "> " + command + (args == null ? "" : " " + JsonWriter.compact(args).replaceAll(":[0-9]+\"", ":PORT\"")));
            try {
                Json r = e.qmp().execute(command, args);
                lines.add(who + "< " + shape(r));
                return r;
            } catch (QmpError err) {
                lines.add(who + "< error " + err.errorClass() + ": " + err.desc());
                return null;
            }
        }

        /** Waits until a MIGRATION event with {@code status} has arrived (it stays queued for {@link #events}). */
        void awaitStatus(Endpoint e, String status) throws Exception {
            Await.until("MIGRATION " + status, () -> {
                for (Json.Obj ev : e.qmp().pendingEvents()) {
                    String s = ev.string("event").equals("MIGRATION") ? statusOf(ev) : "";
                    if (s.equals(status)) {
                        return true;
                    }
                    if (s.equals("failed") || s.equals("completed") || s.equals("cancelled")) {
                        fail("ended " + s + " instead of passing " + status + ": " + JsonWriter.compact(e.qmp().execute("query-migrate"))
                                + (e instanceof Qemu q ? "\n" + q.process().logTail() : ""));
                    }
                }
                return false;
            }, () -> e.qmp().pendingEvents(), WAIT);
        }

        /**
         * Records the events so far, in order: MIGRATION with its status, STOP, RESUME and MIGRATION_PASS, after
         * checking that the passes count 1, 2, 3, ... from the start of each migration, as dirty-sync-count does.
         * Pass 1 (the sync at setup) and the passes after the guest stopped (the final sync) are QEMU's rule; how
         * many passes the live phase takes is a measurement, so those are left out and a run of passes is one entry.
         */
        void events(String who, Endpoint e) {
            List<String> names = new ArrayList<>();
            long lastPass = 0;
            boolean stopped = false;
            for (Json.Obj ev : e.qmp().pendingEvents()) {
                String name = ev.string("event");
                if (!COMPARED_EVENTS.contains(name)) {
                    continue;
                }
                if (name.equals("MIGRATION_PASS")) {
                    long pass = ev.get("data").orElseThrow().asObject().number("pass");
                    assertEquals(lastPass + 1, pass, who + ": passes count up from 1: " + e.qmp().pendingEvents());
                    lastPass = pass;
                    if (pass == 1) {
                        names.add("MIGRATION_PASS 1");
                    } else if (stopped && !names.getLast().equals("MIGRATION_PASS")) {
                        names.add("MIGRATION_PASS");
                    }
                    continue;
                }
                if (name.equals("MIGRATION") && "setup".equals(statusOf(ev))) {
                    lastPass = 0; // a new migration counts its passes anew
                    stopped = false;
                }
                stopped |= name.equals("STOP");
                String entry = name.equals("MIGRATION") ? "MIGRATION " + statusOf(ev) : name;
                if (entry.equals("MIGRATION cancelling") && names.size() >= 2 && names.getLast().equals("MIGRATION device")
                        && names.get(names.size() - 2).equals("MIGRATION pre-switchover")) {
                    // migrate_cancel in pre-switchover wakes QEMU's migration thread, which races the cancel to move
                    // the status on: now and then it gets to device first; the common order has no device
                    names.removeLast();
                }
                names.add(entry);
            }
            lines.add(who + " events: " + String.join(", ", names));
        }

        String text() {
            return String.join("\n", lines);
        }

        private static String statusOf(Json.Obj event) {
            return event.get("data").orElseThrow().asObject().get("status").map(Json::asString).orElse("?");
        }
    }

    /**
     * The reply's shape: objects as their sorted members, with the values QEMU sets by rule (status, run
     * state, address type) kept and measurements (numbers, times, ports, host strings, error-desc texts, which
     * name each implementation's own socket error) reduced to their JSON type.
     */
    static String shape(Json j) {
        return switch (j) {
            case Json.Obj o -> {
                var members = new ArrayList<>(o.members());
                members.sort(Comparator.comparing(Json.Member::name));
                var sb = new StringBuilder("{");
                for (Json.Member m : members) {
                    if (sb.length() > 1) {
                        sb.append(", ");
                    }
                    boolean kept = Set.of("status", "type").contains(m.name()) && m.value() instanceof Json.Str;
                    sb.append(m.name()).append(": ").append(kept ? JsonWriter.compact(m.value()) : shape(m.value()));
                }
                yield sb.append("}").toString();
            }
            case Json.Arr a -> {
                var parts = new ArrayList<String>();
                for (Json e : a.elements()) {
                    parts.add(shape(e));
                }
                yield "[" + String.join(", ", parts) + "]";
            }
            case Json.Num n -> "num";
            case Json.Str s -> "str";
            case Json.Bool b -> Boolean.toString(b.value());
            case Json.Null n -> "null";
            default -> j.getClass().getSimpleName();
        };
    }
}
