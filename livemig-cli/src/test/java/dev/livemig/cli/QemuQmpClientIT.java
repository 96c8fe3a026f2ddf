package dev.livemig.cli;

import dev.livemig.json.Json;
import dev.livemig.qemu.QemuProcess;
import dev.livemig.qemu.QemuVersion;
import dev.livemig.testing.Await;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * QEMU's own python QMP client, qemu.qmp (its asyncio QMPClient and the legacy QEMUMonitorProtocol), drives a
 * live migration between two livemig processes through src/test/python/qmp_migrate.py; the same script drives
 * two QEMU processes (7.2, and 10.0 with livemig answering in that dialect), and both pairs must give it the same
 * answers. The script checks each reply and event
 * as it goes (see its header); here its summary is checked against QEMU's.
 */
class QemuQmpClientIT {
    private static final Set<Json> CLEAN_HANG_UPS = Set.of(new Json.Str("eof"), new Json.Str("closed"));

    @TempDir
    Path dir;

    @BeforeEach
    void qemuQmpIsInstalled() throws Exception {
        QemuQmpScript.requireClient(); // before any process is started: fails at once, saying what to run
    }

    private static Json at(Json.Obj o, String... path) {
        Json j = o;
        for (String name : path) {
            Json parent = j;
            j = j.asObject().get(name).orElseThrow(() -> new AssertionError("no " + name + " in " + parent));
        }
        return j;
    }

    private static Json str(String s) {
        return new Json.Str(s);
    }

    /** guest --qmp and incoming defer --qmp, both livemig processes, driven by the script; both must exit 0. */
    private QemuQmpScript.Outcome livemigPair() throws Exception {
        return livemigPair(QemuVersion.V7_2);
    }

    /** As {@link #livemigPair()}, both answering QMP as QEMU {@code v} (--qmp-dialect). */
    private QemuQmpScript.Outcome livemigPair(QemuVersion v) throws Exception {
        Path src = dir.resolve("livemig-src.sock");
        Path dst = dir.resolve("livemig-dst.sock");
        try (var guest = LivemigProcess.command(List.of("guest", "--ram", "32M", "--qmp", "unix:" + src, "--qmp-dialect", v.label()));
             var dest = LivemigProcess.command(List.of("incoming", "defer", "--ram", "32M", "--qmp", "unix:" + dst,
                     "--qmp-dialect", v.label()))) {
            assertEquals("unix:" + src, guest.nextLine().string("qmp"));
            assertEquals("unix:" + dst, dest.nextLine().string("qmp"));
            QemuQmpScript.Outcome run = QemuQmpScript.migrate("unix:" + src, "unix:" + dst);
            if (!run.ok()) { // nobody sent them quit: end them now rather than wait for them
                guest.kill();
                dest.kill();
                fail("qemu.qmp and livemig disagree: " + run);
            }
            assertTrue(dest.nextLine().has("listening"));
            Json.Obj verdict = dest.nextLine();
            assertEquals(new Json.Bool(true), verdict.get("verified").orElseThrow(), verdict.toString());
            assertEquals(0, guest.awaitExit(), "the source exits 0 after quit");
            assertEquals(0, dest.awaitExit(), "the destination exits 0 after quit");
            return run;
        }
    }

    /** Two qemu-system-x86_64 {@code v} -machine none, the destination with -S -incoming defer, driven by the script. */
    private QemuQmpScript.Outcome qemuPair(QemuVersion v) throws Exception {
        assertTrue(QemuProcess.available(), QemuProcess.BINARY + " is not on PATH; run scripts/install-test-deps.sh");
        List<Process> qemus = new ArrayList<>();
        try {
            Path src = dir.resolve("qemu-src.sock");
            Path dst = dir.resolve("qemu-dst.sock");
            startQemu(v, src, List.of(), qemus);
            startQemu(v, dst, List.of("-S", "-incoming", "defer"), qemus);
            QemuQmpScript.Outcome run = QemuQmpScript.migrate("unix:" + src, "unix:" + dst);
            assertTrue(run.ok(), "QEMU itself fails the script: " + run);
            for (Process q : qemus) {
                assertTrue(q.waitFor(30, TimeUnit.SECONDS), "QEMU did not exit after quit");
                assertEquals(0, q.exitValue());
            }
            return run;
        } finally {
            qemus.forEach(Process::destroyForcibly);
        }
    }

    /** Starts one QEMU serving QMP on {@code socket} and adds it to {@code started} (for the caller to end). */
    private void startQemu(QemuVersion v, Path socket, List<String> extra, List<Process> started) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(v.binary(), "-machine", "none"));
        cmd.addAll(QemuProcess.FIXED_ARGS);
        cmd.addAll(v.firmwareArgs());
        cmd.addAll(List.of("-qmp", "unix:" + socket + ",server=on,wait=off"));
        cmd.addAll(extra);
        Path log = dir.resolve(socket.getFileName() + ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(v.environment());
        Process p = pb.start();
        started.add(p);
        // one that dies at start-up fails here with its log, not after the script's whole budget
        Await.until("QEMU to create " + socket, () -> Files.exists(socket) || !p.isAlive(), null, Duration.ofSeconds(60));
        if (!p.isAlive()) {
            fail("QEMU exited at start-up with status " + p.exitValue() + ": " + cmd + "\n" + Files.readString(log));
        }
    }

    @Test
    void qemusPythonClientMigratesBetweenTwoLivemigProcesses() throws Exception {
        QemuQmpScript.Outcome run = livemigPair();
        Json.Obj s = run.source();
        Json.Obj d = run.destination();

        assertEquals(new Json.Num("7"), at(s, "greeting", "version", "qemu", "major"), "the greeting as qemu.qmp parsed it");
        assertEquals(new Json.Num("2"), at(d, "greeting", "version", "qemu", "minor"));
        assertEquals(str("running"), at(s, "status_before"));
        assertEquals(str("inmigrate"), at(d, "status_before"));
        assertEquals(Json.object().build(), at(s, "query_migrate_before"), "no migration yet");

        assertEquals(str("CommandNotFound"), at(run.summary(), "errors", "unknown_command", "class"));
        assertEquals(str("The command no-such-command has not been found"), at(run.summary(), "errors", "unknown_command", "desc"));
        assertEquals(str("GenericError"), at(run.summary(), "errors", "migrate_incoming_on_source", "class"));
        assertEquals(str("'-incoming' was not specified on the command line"),
                at(run.summary(), "errors", "migrate_incoming_on_source", "desc"));

        // without pause-before-switchover QEMU 7.2's source goes from active straight to completed
        assertEquals(List.of(str("setup"), str("active"), str("completed")), at(s, "events").asArray());
        assertEquals(List.of(str("setup"), str("active"), str("completed")), at(d, "events").asArray());
        assertTrue(at(s, "passes").asLong() >= 1, "MIGRATION_PASS events reached the client: " + s);

        assertEquals(str("completed"), at(s, "query_migrate_after_status"));
        assertEquals(str("completed"), at(d, "query_migrate_after_status"));
        assertEquals(str("postmigrate"), at(s, "status_after"));
        assertEquals(str("paused"), at(d, "status_after"), "like QEMU with -S");
        assertEquals(str("running"), at(d, "status_after_cont"));
        assertTrue(CLEAN_HANG_UPS.contains(at(s, "quit")), "the source hung up cleanly after quit: " + s);

        Json.Obj legacy = at(d, "legacy").asObject();
        assertEquals(str("running"), at(legacy, "status"));
        assertEquals(str("completed"), at(legacy, "query_migrate_status"));
        assertEquals(str("CommandNotFound"), at(legacy, "error", "class"));
        assertTrue(CLEAN_HANG_UPS.contains(at(legacy, "quit")), "the destination hung up cleanly after quit: " + legacy);
    }

    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void livemigAnswersQemusPythonClientAsQemuDoes(QemuVersion v) throws Exception {
        QemuQmpScript.Outcome qemu = qemuPair(v);
        QemuQmpScript.Outcome livemig = livemigPair(v);
        // everything but what depends on the build or on timing (versions, pass counts, how a hang-up was seen)
        List<List<String>> same = List.of(
                List.of("errors"),
                List.of("source", "status_before"), List.of("source", "query_migrate_before"),
                List.of("source", "events"), List.of("source", "query_migrate_after_status"),
                List.of("source", "status_after"),
                List.of("destination", "status_before"), List.of("destination", "listening_query_migrate_status"),
                List.of("destination", "events"), List.of("destination", "query_migrate_after_status"),
                List.of("destination", "status_after"), List.of("destination", "status_after_cont"),
                List.of("destination", "legacy", "status"), List.of("destination", "legacy", "query_migrate_status"),
                List.of("destination", "legacy", "error"),
                List.of("source", "greeting", "version", "qemu", "major"), List.of("source", "greeting", "version", "qemu", "minor"));
        List<String> differences = new ArrayList<>();
        for (List<String> path : same) {
            Json q = at(qemu.summary(), path.toArray(String[]::new));
            Json l = at(livemig.summary(), path.toArray(String[]::new));
            if (!q.equals(l)) {
                differences.add(String.join(".", path) + ": QEMU " + q + ", livemig " + l);
            }
        }
        assertEquals(List.of(), differences, "qemu.qmp sees livemig differ from QEMU " + v);
    }
}
