package dev.livemig.cli;

import dev.livemig.testing.Await;
import dev.livemig.json.Json;
import dev.livemig.machine.RunState;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * `livemig migrate` (the shaded jar, its own process) interrupted while it follows a slow migration: it cancels
 * the migration before it exits, and the source machine keeps running.
 */
class MigrateInterruptIT {
    @TempDir
    Path dir;

    /** A JVM started with SIGINT ignored (a background job without job control) passes that on; Ctrl-C then cannot reach it. */
    private static boolean sigintIgnoredHere() throws IOException {
        String mask = Files.readAllLines(Path.of("/proc/self/status")).stream()
                .filter(l -> l.startsWith("SigIgn:")).findFirst().orElseThrow().substring("SigIgn:".length()).strip();
        return (Long.parseUnsignedLong(mask, 16) & (1L << (2 - 1))) != 0;
    }

    @ParameterizedTest
    @CsvSource({"INT, 130", "TERM, 143"})
    void anInterruptedFollowerCancelsTheMigrationBeforeItExits(String signal, int exitStatus) throws Exception {
        if (signal.equals("INT")) {
            Assumptions.assumeFalse(sigintIgnoredHere(), "SIGINT is ignored in this process tree");
        }
        Path jar = Path.of("target", "livemig.jar");
        assertTrue(Files.exists(jar), "the shaded jar is built in the package phase; run with mvn verify");
        try (var qmp = new QmpSource(dir); var watch = qmp.client()) {
            // 8 MiB of random pages at 1 MiB/s at most: eight seconds at least, so the signal sent as soon as the
            // migration is active lands midway however loaded the machine (it takes milliseconds to deliver)
            watch.execute("migrate-set-parameters", Json.object().put("max-bandwidth", 1L << 20).build());
            String uri = qmp.listen("events");
            String java = ProcessHandle.current().info().command().orElse("java");
            Path err = dir.resolve("stderr");
            Process p = new ProcessBuilder(List.of(java, "--enable-native-access=ALL-UNNAMED", "-jar", jar.toString(),
                    "migrate", "--qmp", qmp.unix(), uri))
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(err.toFile()).start();
            try {
                Await.value("the migration to become active while livemig follows it",
                        () -> QueryMigrate.status(watch.execute("query-migrate").asObject()) + (p.isAlive() ? "" : " (livemig exited)"),
                        s -> s.equals("active"), s -> !s.equals("none") && !s.equals("setup"), QueryMigrate.WAIT);
                assertEquals(0, new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).start().waitFor());
                assertTrue(p.waitFor(30, TimeUnit.SECONDS), "livemig did not exit");
                assertEquals(exitStatus, p.exitValue());
            } finally {
                p.destroyForcibly();
            }
            assertTrue(Files.readString(err, StandardCharsets.UTF_8)
                    .contains("livemig: interrupted; migrate_cancel sent to " + qmp.unix()), Files.readString(err));
            QueryMigrate.migrationStatus(watch, "cancelled");
            assertEquals(RunState.RUNNING, qmp.source.runState());
        }
    }
}
