package dev.livemig.cli;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParser;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** `livemig demo --json` run as a user runs it: the shaded jar, two JVM processes, a verified verdict. */
class DemoIT {
    @Test
    void theDemoMovesAGuestToASecondProcessAndVerifiesIt() throws Exception {
        Path jar = Path.of("target", "livemig.jar");
        assertTrue(Files.exists(jar), "the shaded jar is built in the package phase; run with mvn verify");
        String java = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(List.of(java, "--enable-native-access=ALL-UNNAMED", "-jar", jar.toString(),
                "demo", "--ram", "64M", "--run-time", "300", "--json"))
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String last = null;
        try (var out = new BufferedReader(new InputStreamReader(p.getInputStream()))) {
            for (String line; (line = out.readLine()) != null; ) {
                last = line;
            }
        }
        assertTrue(p.waitFor(2, TimeUnit.MINUTES));
        assertEquals(0, p.exitValue(), last);
        Json.Obj verdict = JsonParser.parse(last).asObject();
        assertEquals(new Json.Bool(true), verdict.get("verified").orElseThrow());
        Json.Obj info = verdict.get("query-migrate").orElseThrow().asObject();
        assertEquals("completed", info.string("status"));
        Json.Obj ram = info.get("ram").orElseThrow().asObject();
        assertEquals(64L << 20, ram.number("total"));
        assertEquals(16384, ram.number("normal") + ram.number("duplicate"));
    }
}
