package dev.livemig.cli;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParser;
import dev.livemig.qmp.QmpClient;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** `livemig status`: query-migrate before, during and after a migration, as text and as JSON. */
class StatusCommandTest {
    @AutoClose
    private final QmpSource qmp;
    private final Path dir;

    StatusCommandTest(@TempDir Path dir) throws Exception {
        this.dir = dir;
        this.qmp = new QmpSource(dir);
    }

    private static void migrate(QmpClient c, String uri) throws Exception {
        c.execute("migrate", Json.object().put("uri", uri).build());
    }

    @Test
    void beforeAnyMigrationTheStatusIsNone() {
        CliRun text = CliRun.of("status", "--qmp", qmp.unix());
        assertEquals(0, text.status(), text.toString());
        assertEquals("Migration status: none\n", text.out());
        CliRun json = CliRun.of("status", "--qmp", qmp.tcp(), "--json");
        assertEquals("{}\n", json.out());
    }

    @Test
    void whileActiveThePartialFiguresAreShown() throws Exception {
        try (var c = qmp.client()) {
            // 8 MiB of random pages at 1 MiB/s at most: active for eight seconds at least, however loaded the machine
            c.execute("migrate-set-parameters", Json.object().put("max-bandwidth", 1L << 20).build());
            migrate(c, qmp.listen());
            QueryMigrate.migrationStatus(c, "active");
            String out = CliRun.of("status", "--qmp", qmp.unix()).out();
            assertTrue(out.startsWith("Migration status: active\ntotal time: "), out);
            assertTrue(out.contains("\nexpected downtime: "), out);
            assertFalse(out.contains("\ndowntime: "), "no downtime before the switchover: " + out);
            assertTrue(out.contains("\ntotal ram: 16384 kbytes\n"), out);
            c.execute("migrate_cancel");
        }
    }

    @Test
    void afterAMigrationTheSummaryAndTheRawReplyAgree() throws Exception {
        try (var c = qmp.client()) {
            migrate(c, qmp.listen());
            QueryMigrate.migrationStatus(c, "completed");
        }
        CliRun text = CliRun.of("status", "--qmp", qmp.unix());
        assertTrue(text.out().startsWith("Migration status: completed\n"), text.out());
        assertTrue(text.out().contains("\ndowntime: "), text.out());
        Json.Obj reply = JsonParser.parse(CliRun.of("status", "--qmp", qmp.unix(), "--json").out()).asObject();
        assertEquals("completed", reply.string("status"));
        long kbytes = reply.get("ram").orElseThrow().asObject().number("transferred") / 1024;
        assertTrue(text.out().contains("\ntransferred ram: " + kbytes + " kbytes\n"), text.out());
    }

    @Test
    void anUnreachableServerIsOneLineAndStatusTwo() {
        String nowhere = "unix:" + dir.resolve("nobody.sock");
        assertEquals("livemig: cannot connect to QMP at " + nowhere + ": No such file or directory",
                CliRun.of("status", "--qmp", nowhere).oneLineError());
        assertEquals("livemig: QMP address must be unix:PATH or tcp:HOST:PORT, not 'localhost:4444'",
                CliRun.of("status", "--qmp", "localhost:4444").oneLineError());
    }
}
