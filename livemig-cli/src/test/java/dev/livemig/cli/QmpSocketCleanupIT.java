package dev.livemig.cli;

import dev.livemig.testing.Await;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** A process serving QMP on a unix socket leaves no socket file behind when it is ended by SIGTERM. */
class QmpSocketCleanupIT {

    @Test
    void sigtermRemovesTheQmpSocketFile(@TempDir Path dir) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        Path jar = Path.of("target/livemig.jar").toAbsolutePath();
        for (List<String> command : List.of(List.of("guest", "--ram", "16M"), List.of("incoming", "defer", "--ram", "16M"))) {
            Path socket = dir.resolve(command.getFirst() + ".qmp");
            var args = new java.util.ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "-jar", jar.toString()));
            args.addAll(command);
            args.addAll(List.of("--qmp", "unix:" + socket));
            Process p = new ProcessBuilder(args).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectError(ProcessBuilder.Redirect.INHERIT).start();
            try {
                Await.until(command.getFirst() + " to serve QMP on " + socket, () -> Files.exists(socket) || !p.isAlive(),
                        null, Duration.ofSeconds(60));
                assertTrue(p.isAlive(), command + " exited early with " + (p.isAlive() ? "" : p.exitValue()));
                p.destroy(); // SIGTERM
                assertTrue(p.waitFor(30, TimeUnit.SECONDS), command + " did not exit on SIGTERM");
                assertFalse(Files.exists(socket), command + " left its QMP socket behind");
            } finally {
                p.destroyForcibly();
            }
        }
    }
}
