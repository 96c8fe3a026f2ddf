package dev.livemig.cli;

import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** `livemig start-postcopy`: one migrate-start-postcopy; QEMU's refusals come back as one line and status 2. */
class StartPostcopyCommandTest {
    @AutoClose
    private final QmpSource qmp;

    StartPostcopyCommandTest(@TempDir Path dir) throws Exception {
        this.qmp = new QmpSource(dir);
    }

    @Test
    void refusedWithoutPostcopyRamOrBeforeAnyMigrationAndAcceptedOnceOneStarted() throws Exception {
        assertEquals("livemig: Enable postcopy with migrate_set_capability before the start of migration",
                CliRun.of("start-postcopy", "--qmp", qmp.unix()).oneLineError());
        assertEquals(0, CliRun.of("set-capability", "--qmp", qmp.unix(), "postcopy-ram", "on").status());
        assertEquals("livemig: Postcopy must be started after migration has been started",
                CliRun.of("start-postcopy", "--qmp", qmp.unix()).oneLineError());
        // as in QEMU, a migration that has started (here: and failed at once, nothing listens) takes the request
        try (var c = qmp.client()) {
            c.execute("migrate", dev.livemig.json.Json.object().put("uri", "tcp:127.0.0.1:1").build());
        } catch (dev.livemig.qmp.QmpError refused) {
            // QEMU 7.2 answers a refused connection with an error and leaves the migration failed
        }
        CliRun accepted = CliRun.of("start-postcopy", "--qmp", qmp.unix());
        assertEquals(0, accepted.status(), accepted.toString());
        assertEquals("", accepted.out() + accepted.err());
    }
}
