package dev.livemig.cli;

import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * `livemig start-postcopy`, `migrate-pause`, `migrate-recover` and `migrate --resume`: one QMP command each;
 * refusals come back as one line and status 2.
 */
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

    /** The recovery commands reach the server and come back with its refusal, as QEMU words it, when nothing is paused. */
    @Test
    void recoveryCommandsAreRefusedOutsideAPausedPostcopy() throws Exception {
        assertEquals("livemig: migrate-pause is currently only supported during postcopy-active or postcopy-recover state",
                CliRun.of("migrate-pause", "--qmp", qmp.unix()).oneLineError());
        assertEquals("livemig: Migrate recover can only be run when postcopy is paused.",
                CliRun.of("migrate-recover", "--qmp", qmp.unix(), "tcp:127.0.0.1:0").oneLineError());
        assertEquals("livemig: Cannot resume if there is no paused migration",
                CliRun.of("migrate", "--resume", "--qmp", qmp.unix(), "tcp:127.0.0.1:1").oneLineError());
    }
}
