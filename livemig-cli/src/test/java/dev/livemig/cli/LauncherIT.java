package dev.livemig.cli;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParser;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The README's main command as a user runs it: the {@code ./livemig} launcher, which trains two JDK AOT caches
 * once per build (one for the migrating side, one for the destinations it starts) and runs with them.
 */
class LauncherIT {
    private static final Path LAUNCHER = Path.of("..", "livemig").toAbsolutePath().normalize();
    private static final Path SOURCE_CACHE = Path.of("target", "livemig-source.aot");
    private static final Path DESTINATION_CACHE = Path.of("target", "livemig-destination.aot");

    private record Run(int status, String out, String err) {
    }

    private static Run launch(Map<String, String> env, String... args) throws IOException, InterruptedException {
        var pb = new ProcessBuilder(java.util.stream.Stream.concat(java.util.stream.Stream.of(LAUNCHER.toString()),
                java.util.stream.Stream.of(args)).toList());
        pb.environment().remove("LIVEMIG_DESTINATION_AOT_CACHE");
        pb.environment().putAll(env);
        Path err = Files.createTempFile("launcher", ".err");
        Process p = pb.redirectError(err.toFile()).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(3, TimeUnit.MINUTES), "the launcher did not finish");
        String errText = Files.readString(err);
        Files.delete(err);
        assertFalse(errText.contains("building"), "mvn verify packages the jar before this test: " + errText);
        return new Run(p.exitValue(), out, errText);
    }

    @Test
    void theLauncherTrainsItsCachesOnceAndBothEndsOfTheDemoUseThem() throws Exception {
        Files.deleteIfExists(SOURCE_CACHE);
        Files.deleteIfExists(DESTINATION_CACHE);
        Files.deleteIfExists(Path.of("target", "livemig-aot.failed")); // else it would not train again

        Run first = launch(Map.of(), "--version");
        assertEquals(0, first.status(), first.err());
        assertEquals("livemig 0.1.0", first.out().strip());
        assertTrue(first.err().contains("training the JVM's AOT caches"), first.err());
        assertTrue(Files.size(SOURCE_CACHE) > 0 && Files.size(DESTINATION_CACHE) > 0, "both caches are written");
        var trained = Files.getLastModifiedTime(SOURCE_CACHE);

        // the caches' own log, on stderr, says whether each JVM mapped its cache
        Run demo = launch(Map.of("LIVEMIG_JAVA_OPTS", "-Xlog:aot=info:stderr", "LIVEMIG_DEST_JAVA_OPTS", "-Xlog:aot=info:stderr"),
                "demo", "--ram", "64M", "--run-time", "300", "--json");
        assertEquals(0, demo.status(), demo.err());
        assertFalse(demo.err().contains("training"), "trained once per build: " + demo.err());
        assertEquals(trained, Files.getLastModifiedTime(SOURCE_CACHE));
        for (Path cache : List.of(SOURCE_CACHE, DESTINATION_CACHE)) {
            assertTrue(demo.err().contains("Opened AOT cache " + cache.toAbsolutePath()), cache + " in " + demo.err());
        }
        assertFalse(demo.err().contains("[error][aot]"), demo.err());
        String[] lines = demo.out().strip().split("\n");
        Json.Obj verdict = JsonParser.parse(lines[lines.length - 1]).asObject();
        assertEquals(new Json.Bool(true), verdict.get("verified").orElseThrow(), verdict.toString());
    }
}
