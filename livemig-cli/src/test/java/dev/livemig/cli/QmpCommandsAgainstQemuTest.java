package dev.livemig.cli;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParser;
import dev.livemig.qemu.QemuOptions;
import dev.livemig.qemu.QemuProcess;
import dev.livemig.qemu.QemuVersion;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The QMP subcommands driving a real QEMU (7.2 and 10.0) through a second -qmp monitor (the harness holds the
 * first): the client, the argument typing and the reply parsing all meet QEMU's own QMP.
 */
@Tag("qemu")
class QmpCommandsAgainstQemuTest {
    @TempDir
    Path dir;

    @BeforeAll
    static void qemuInstalled() throws Exception {
        assertTrue(QemuProcess.available(), "qemu-system-x86_64 is not on PATH: run ./test, which installs it");
    }

    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void qemuIsQueriedConfiguredAndMigratedToAFile(QemuVersion v) throws Exception {
        Path socket = dir.resolve("cli.sock");
        Path stream = dir.resolve("stream");
        try (QemuProcess qemu = QemuProcess.start(QemuOptions.paused("pc").on(v)
                .withArgs("-qmp", "unix:" + socket + ",server=on,wait=off"))) {
            String qmp = "unix:" + socket;
            assertEquals("Migration status: none\n", CliRun.of("status", "--qmp", qmp).out());
            assertEquals(0, CliRun.of("set-parameter", "--qmp", qmp, "max-bandwidth", "1G").status());
            assertEquals(0, CliRun.of("set-capability", "--qmp", qmp, "pause-before-switchover", "on").status());
            // QEMU's own text, which spells the bound as the macro it is written with
            assertEquals("livemig: Parameter 'downtime_limit' expects an integer in the range of 0 to (2000 * 1000) ms",
                    CliRun.of("set-parameter", "--qmp", qmp, "downtime-limit", "3000000").oneLineError());
            assertEquals("livemig: Parameter 'capability' does not accept value 'teleport'",
                    CliRun.of("set-capability", "--qmp", qmp, "teleport", "on").oneLineError());

            // held in pre-switchover by the capability above, the migration completes only if migrate continues it
            CliRun run = CliRun.of("migrate", "--qmp", qmp, "--json", "exec:cat > " + stream);
            assertEquals(0, run.status(), run.toString());
            Json.Obj info = JsonParser.parse(run.out()).asObject().get("query-migrate").orElseThrow().asObject();
            assertEquals("completed", info.string("status"));
            assertEquals(32L << 20, info.get("ram").orElseThrow().asObject().number("total") & ~0xfffffL,
                    "32 MiB of guest RAM plus QEMU's small ROM blocks");
            assertTrue(Files.size(stream) > 0);
            assertTrue(CliRun.of("status", "--qmp", qmp).out().startsWith("Migration status: completed\n"));
            assertEquals(1073741824L, qemu.qmp().execute("query-migrate-parameters").asObject().number("max-bandwidth"));
        }
    }
}
