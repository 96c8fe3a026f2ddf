package dev.livemig.cli;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParser;
import dev.livemig.machine.RunState;
import dev.livemig.migration.MigrationStatus;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** `livemig migrate` against a real QmpServer, migrating to a destination in this JVM. */
class MigrateCommandTest {
    @AutoClose
    private final QmpSource qmp;

    MigrateCommandTest(@TempDir Path dir) throws Exception {
        this.qmp = new QmpSource(dir);
    }

    private static Json.Obj queryMigrate(CliRun run) throws Exception {
        List<String> lines = run.out().strip().lines().toList();
        assertEquals(1, lines.size(), "--json prints one line: " + run.out());
        return JsonParser.parse(lines.getFirst()).asObject().get("query-migrate").orElseThrow().asObject();
    }

    @Test
    void aMigrationIsFollowedToCompletionAndTheDestinationHoldsTheSourcesRam() throws Exception {
        String uri = qmp.listen("events");
        // 8 MiB of random pages at 4 MiB/s at most: active for two seconds at least, however loaded the machine,
        // while the follower redraws within milliseconds of the MIGRATION event and every 100 ms
        CliRun run = CliRun.of("migrate", "--qmp", qmp.unix(), "--parameter", "max-bandwidth=4M", uri);
        assertEquals(0, run.status(), run.toString());
        assertTrue(run.out().contains("Migration status: completed\n"), run.out());
        assertTrue(run.out().contains("total ram: 16384 kbytes\n"), run.out());
        assertTrue(run.out().contains("\ractive       ["), "the progress line was drawn while active: " + run.out());
        assertEquals(MigrationStatus.COMPLETED, qmp.incoming().awaitFinished(30, TimeUnit.SECONDS), qmp.incoming().error());
        assertEquals(-1, QmpSource.ram(qmp.source).mismatch(QmpSource.ram(qmp.dest)), "destination RAM equals source RAM");
        assertEquals(RunState.RUNNING, qmp.dest.runState());
        assertEquals("", run.err());
    }

    @Test
    void withJsonOverTcpItPrintsOnlyTheFinalQueryMigrate() throws Exception {
        String uri = qmp.listen("events");
        CliRun run = CliRun.of("migrate", "--qmp", qmp.tcp(), "--json", uri);
        assertEquals(0, run.status(), run.toString());
        Json.Obj info = queryMigrate(run);
        assertEquals("completed", info.string("status"));
        assertEquals(QmpSource.RAM, info.get("ram").orElseThrow().asObject().number("total"));
        assertTrue(info.number("downtime") >= 0);
    }

    @Test
    void aDeadDestinationFailsWithStatusOneAndItsReason() throws Exception {
        int closedPort;
        try (var s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closedPort = s.getLocalPort();
        }
        CliRun run = CliRun.of("migrate", "--qmp", qmp.unix(), "tcp:127.0.0.1:" + closedPort);
        assertEquals(1, run.status(), run.toString());
        String status = run.out().lines().filter(l -> l.startsWith("Migration status:")).findFirst().orElseThrow();
        assertTrue(status.startsWith("Migration status: failed (") && status.contains("Connection refused"), status);
        CliRun json = CliRun.of("migrate", "--qmp", qmp.unix(), "--json", "tcp:127.0.0.1:" + closedPort);
        assertEquals(1, json.status(), json.toString());
        assertEquals("failed", queryMigrate(json).string("status"));
        assertTrue(queryMigrate(json).string("error-desc").contains("Connection refused"), json.out());
    }

    @Test
    void detachReturnsOnceStartedWithCapabilitiesAndParametersApplied() throws Exception {
        String uri = qmp.listen("events", "return-path");
        CliRun run = CliRun.of("migrate", "--qmp", qmp.unix(), "--detach", "--capability", "return-path",
                "--parameter", "downtime-limit=500", "--parameter", "max-bandwidth=512M", uri);
        assertEquals(0, run.status(), run.toString());
        assertEquals("migration to " + uri + " started\n", run.out());
        try (var c = qmp.client()) {
            List<String> on = c.execute("query-migrate-capabilities").asArray().stream().map(Json::asObject)
                    .filter(o -> o.get("state").orElseThrow().equals(new Json.Bool(true))).map(o -> o.string("capability")).toList();
            assertEquals(List.of("events", "return-path"), on);
            Json.Obj params = c.execute("query-migrate-parameters").asObject();
            assertEquals(500, params.number("downtime-limit"));
            assertEquals(512L << 20, params.number("max-bandwidth"));
        }
        assertEquals(MigrationStatus.COMPLETED, qmp.incoming().awaitFinished(30, TimeUnit.SECONDS), qmp.incoming().error());
    }

    @Test
    void aRefusedCapabilityOrParameterStopsBeforeMigrate() throws Exception {
        String uri = qmp.listen("events");
        CliRun rule = CliRun.of("migrate", "--qmp", qmp.unix(), "--capability", "switchover-ack", uri);
        assertEquals("livemig: Capability 'switchover-ack' requires capability 'return-path'", rule.oneLineError());
        CliRun range = CliRun.of("migrate", "--qmp", qmp.unix(), "--parameter", "downtime-limit=2000001", uri);
        assertEquals("livemig: Parameter 'downtime_limit' expects an integer in the range of 0 to (2000 * 1000) ms",
                range.oneLineError());
        CliRun notPair = CliRun.of("migrate", "--qmp", qmp.unix(), "--parameter", "downtime-limit", uri);
        assertEquals(2, notPair.status());
        assertTrue(notPair.err().contains("should be in KEY=VALUE format"), notPair.err());
        assertEquals("{}", CliRun.of("status", "--qmp", qmp.unix(), "--json").out().strip(), "no migration was started");
    }
}
