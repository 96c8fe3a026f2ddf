package dev.livemig.cli;

import dev.livemig.host.HostChecks;
import dev.livemig.json.Json;
import dev.livemig.json.JsonParser;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * `livemig bench precopy` as the benchmark scripts run it: one JSON line with the figures and the host facts
 * they were measured with, guest RAM in huge pages on both ends where the host gives them, none when switched off.
 */
class BenchIT {
    private static Json.Obj bench(String... jvmOptions) throws Exception {
        Path jar = Path.of("target", "livemig.jar");
        assertTrue(Files.exists(jar), "the shaded jar is built in the package phase; run with mvn verify");
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED"));
        cmd.addAll(List.of(jvmOptions));
        cmd.addAll(List.of("-jar", jar.toString(), "bench", "precopy", "--ram", "64M", "--content", "half"));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(2, TimeUnit.MINUTES)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            fail("bench did not end: " + out);
        }
        assertEquals(0, p.exitValue(), out);
        List<String> lines = out.lines().toList();
        return JsonParser.parse(lines.getLast()).asObject();
    }

    @Test
    void figuresComeWithTheHostFactsAndGuestRamInHugePagesWhereTheHostGivesThem() throws Exception {
        Json.Obj r = bench();
        assertEquals("completed", r.string("status"));
        assertTrue(r.number("total_ms") > 0 && r.number("setup_ms") >= 0 && r.number("downtime_ms") >= 0, r.toString());
        Json.Obj host = r.get("host").orElseThrow().asObject();
        Json.Obj thp = host.get("thp").orElseThrow().asObject();
        assertFalse(thp.string("mode").isEmpty());
        assertEquals(Json.of(true), host.get("huge_pages_asked").orElseThrow());
        Json.Obj touch = host.get("first_touch").orElseThrow().asObject();
        assertTrue(touch.number("mib_per_s") > 0 && touch.number("huge_mib_per_s") > 0, touch.toString());
        long source = r.number("source_huge_page_bytes");
        long destination = r.get("destination").orElseThrow().asObject().number("huge_page_bytes");
        if (HostChecks.advisedMemoryGetsHugePages().orElse(false)) {
            assertTrue(source > 0, "the source's RAM got no huge page: " + r);
            assertTrue(destination > 0, "the destination's RAM got no huge page: " + r);
        }
        assertTrue(source <= 64L << 20 && destination <= 64L << 20, r.toString());
    }

    @Test
    void switchedOffNeitherEndAsksForHugePages() throws Exception {
        Json.Obj r = bench("-Dlivemig.disable=thp");
        assertEquals("completed", r.string("status"));
        Json.Obj host = r.get("host").orElseThrow().asObject();
        assertEquals(Json.of(false), host.get("huge_pages_asked").orElseThrow());
        // the THP mode "always" would still give huge pages to memory nobody advised: only madvise/never tell
        if (!host.get("thp").orElseThrow().asObject().string("mode").equals("always")) {
            assertEquals(0, r.number("source_huge_page_bytes"), r.toString());
            assertEquals(0, r.get("destination").orElseThrow().asObject().number("huge_page_bytes"), r.toString());
        }
    }
}
