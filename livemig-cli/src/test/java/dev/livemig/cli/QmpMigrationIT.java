package dev.livemig.cli;

import dev.livemig.json.Json;
import dev.livemig.qmp.QmpClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A migration between two livemig processes driven only through QMP, as a management tool drives QEMU: a
 * guest serving QMP, a destination started with {@code defer}, capabilities set on both sides,
 * migrate-incoming, migrate, migrate-continue, cont, quit.
 */
class QmpMigrationIT {
    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    private static Json.Obj obj(Json j) {
        return (Json.Obj) j;
    }

    private static String status(Json.Obj event) {
        return event.get("data").orElseThrow().asObject().string("status");
    }

    private static Json.Obj enable(String... capabilities) {
        List<Json> list = new ArrayList<>();
        for (String c : capabilities) {
            list.add(Json.object().put("capability", c).put("state", true).build());
        }
        return Json.object().put("capabilities", new Json.Arr(list)).build();
    }

    /** MIGRATION statuses until {@code last}, in arrival order. */
    private static List<String> statusesUntil(QmpClient c, String last) throws Exception {
        List<String> seen = new ArrayList<>();
        while (seen.isEmpty() || !seen.getLast().equals(last)) {
            seen.add(status(c.awaitEvent("MIGRATION", WAIT)));
            assertTrue(seen.size() < 10, seen.toString());
        }
        return seen;
    }

    @Test
    void aMigrationBetweenTwoProcessesDrivenOnlyThroughQmp() throws Exception {
        Path srcSock = dir.resolve("src.sock");
        Path dstSock = dir.resolve("dst.sock");
        try (var guest = LivemigProcess.command(List.of("guest", "--ram", "64M", "--qmp", "unix:" + srcSock));
             var dest = LivemigProcess.command(List.of("incoming", "defer", "--ram", "64M", "--qmp", "unix:" + dstSock))) {
            assertEquals("unix:" + srcSock, guest.nextLine().string("qmp"));
            assertEquals("unix:" + dstSock, dest.nextLine().string("qmp"));
            try (QmpClient src = QmpClient.connect(srcSock, WAIT); QmpClient dst = QmpClient.connect(dstSock, WAIT)) {
                src.execute("migrate-set-capabilities", enable("events", "return-path", "pause-before-switchover"));
                dst.execute("migrate-set-capabilities", enable("events", "return-path"));
                src.execute("migrate-set-parameters", Json.object().put("max-bandwidth", 1L << 30).build());
                assertEquals("inmigrate", obj(dst.execute("query-status")).string("status"));

                dst.execute("migrate-incoming", Json.object().put("uri", "tcp:127.0.0.1:0").build());
                Json.Obj at = obj(dst.execute("query-migrate")).get("socket-address").orElseThrow().asArray().getFirst().asObject();
                String uri = "tcp:" + at.string("host") + ":" + at.string("port");
                assertEquals(uri, dest.nextLine().string("listening"));

                src.execute("migrate", Json.object().put("uri", uri).build());
                assertEquals(List.of("setup", "active", "pre-switchover"), statusesUntil(src, "pre-switchover"));
                assertEquals("finish-migrate", obj(src.execute("query-status")).string("status"),
                        "QEMU stops the guest before it holds the migration");
                src.execute("migrate-continue", Json.object().put("state", "pre-switchover").build());
                assertEquals(List.of("device", "completed"), statusesUntil(src, "completed"));
                src.awaitEvent("STOP", WAIT);
                assertTrue(src.awaitEvent("MIGRATION_PASS", Duration.ZERO).get("data").orElseThrow().asObject().number("pass") >= 1);
                Json.Obj info = obj(src.execute("query-migrate"));
                assertEquals("completed", info.string("status"));
                assertTrue(info.number("downtime") >= 0, info.toString());
                assertEquals("postmigrate", obj(src.execute("query-status")).string("status"));

                assertEquals(List.of("setup", "active", "completed"), statusesUntil(dst, "completed"));
                Json.Obj verdict = dest.nextLine();
                assertEquals(new Json.Bool(true), verdict.get("verified").orElseThrow(), verdict.toString());
                assertEquals("paused", obj(dst.execute("query-status")).string("status"), "like QEMU with -S");
                dst.execute("cont");
                dst.awaitEvent("RESUME", WAIT);
                assertEquals("running", obj(dst.execute("query-status")).string("status"));

                src.execute("quit");
                dst.execute("quit");
            }
            assertEquals(0, guest.awaitExit());
            assertEquals(0, dest.awaitExit());
        }
    }

    @Test
    void theHandshakeTimeoutHoldsForAListenerThatMigrateIncomingOpens() throws Exception {
        Path dstSock = dir.resolve("dst.sock");
        try (var dest = LivemigProcess.command(List.of("incoming", "defer", "--ram", "1M", "--qmp", "unix:" + dstSock,
                "--handshake-timeout", "200"))) {
            assertEquals("unix:" + dstSock, dest.nextLine().string("qmp"));
            try (QmpClient dst = QmpClient.connect(dstSock, WAIT)) {
                dst.execute("migrate-incoming", Json.object().put("uri", "tcp:127.0.0.1:0").build());
                Json.Obj at = obj(dst.execute("query-migrate")).get("socket-address").orElseThrow().asArray().getFirst().asObject();
                try (var squatter = java.nio.channels.SocketChannel.open(
                        new java.net.InetSocketAddress(at.string("host"), Integer.parseInt(at.string("port"))))) {
                    // the default gate holds a silent peer 10 s; 200 ms let it go long before half of that
                    squatter.socket().setSoTimeout((int) dev.livemig.transport.HandshakeGate.DEFAULT_TIMEOUT.toMillis() / 2);
                    assertEquals(-1, squatter.socket().getInputStream().read(), "dropped by the 200 ms gate");
                }
                dst.execute("quit");
            }
            dest.awaitExit();
        }
    }
}
