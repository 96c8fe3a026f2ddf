package dev.livemig.cli;

import dev.livemig.json.Json;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** `livemig set-capability`: one migrate-set-capabilities; the server's refusal is one line and status 2. */
class SetCapabilityCommandTest {
    @AutoClose
    private final QmpSource qmp;
    private final Path dir;

    SetCapabilityCommandTest(@TempDir Path dir) throws Exception {
        this.dir = dir;
        this.qmp = new QmpSource(dir);
    }

    private boolean enabled(String capability) throws Exception {
        try (var c = qmp.client()) {
            return c.execute("query-migrate-capabilities").asArray().stream().map(Json::asObject)
                    .filter(o -> o.string("capability").equals(capability)).findFirst().orElseThrow()
                    .get("state").orElseThrow().equals(new Json.Bool(true));
        }
    }

    @Test
    void onAndOffChangeWhatTheServerReports() throws Exception {
        CliRun on = CliRun.of("set-capability", "--qmp", qmp.unix(), "return-path", "on");
        assertEquals(0, on.status(), on.toString());
        assertEquals("", on.out() + on.err());
        assertTrue(enabled("return-path"));
        assertEquals(0, CliRun.of("set-capability", "--qmp", qmp.tcp(), "return-path", "off").status());
        assertFalse(enabled("return-path"));
    }

    @Test
    void theServersRefusalIsItsOwnWordsOnOneLine() throws Exception {
        assertEquals("livemig: Parameter 'capability' does not accept value 'teleport'",
                CliRun.of("set-capability", "--qmp", qmp.unix(), "teleport", "on").oneLineError());
        assertEquals("livemig: Capability 'switchover-ack' requires capability 'return-path'",
                CliRun.of("set-capability", "--qmp", qmp.unix(), "switchover-ack", "on").oneLineError());
        assertEquals("livemig: capability dirty-bitmaps is not built yet in livemig",
                CliRun.of("set-capability", "--qmp", qmp.unix(), "dirty-bitmaps", "on").oneLineError());
        assertFalse(enabled("switchover-ack"));
    }

    @Test
    void aStateOtherThanOnOrOffIsAUsageError() {
        CliRun run = CliRun.of("set-capability", "--qmp", qmp.unix(), "events", "maybe");
        assertEquals(2, run.status());
        assertTrue(run.err().startsWith("Invalid value for positional parameter at index 1 (on|off)"), run.err());
    }

    @Test
    void anUnreachableServerIsOneLineWithoutAStackTrace() {
        String nowhere = "unix:" + dir.resolve("nobody.sock");
        assertEquals("livemig: cannot connect to QMP at " + nowhere + ": No such file or directory",
                CliRun.of("set-capability", "--qmp", nowhere, "events", "on").oneLineError());
    }
}
