package dev.livemig.cli;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParser;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** {@code livemig check}: one line per finding, the same as JSON, and the fallback a switched-off feature gets. */
class CheckCommandTest {

    private static Json.Obj check(String... extra) {
        var args = new java.util.ArrayList<>(List.of("check", "--json"));
        args.addAll(List.of(extra));
        CliRun run = CliRun.of(args.toArray(String[]::new));
        assertEquals(0, run.status(), run.toString());
        try {
            return JsonParser.parse(run.out()).asObject();
        } catch (dev.livemig.json.JsonParseException e) {
            throw new AssertionError("not JSON: " + run.out(), e);
        }
    }

    private static Json.Obj finding(Json.Obj report, String name) {
        return report.get("checks").orElseThrow().asArray().stream().map(Json::asObject)
                .filter(c -> c.string("name").equals(name)).findFirst().orElseThrow(() -> new AssertionError(name));
    }

    @Test
    void linesNameEveryCheckWithItsStatusAndEndWithTheVerdict() {
        CliRun run = CliRun.of("check");
        assertEquals(0, run.status(), run.toString());
        List<String> lines = run.out().lines().toList();
        Json.Obj report = check();
        List<Json> checks = report.get("checks").orElseThrow().asArray();
        assertEquals(checks.size() + 1, lines.size(), run.out());
        for (int i = 0; i < checks.size(); i++) {
            Json.Obj c = checks.get(i).asObject();
            assertTrue(lines.get(i).matches(c.string("status") + " +" + java.util.regex.Pattern.quote(c.string("name")) + "  .+"),
                    lines.get(i));
        }
        assertTrue(lines.getLast().startsWith("livemig can run here ("), lines.getLast());
        assertEquals(Json.of(true), report.get("usable").orElseThrow());
        assertEquals("", report.string("disabled"));
    }

    @Test
    void aSwitchedOffFeatureIsReportedWithTheFallbackMigrationsThenUse() {
        Json.Obj report = check("--disable", "userfaultfd-wp,populate-write");
        assertEquals("userfaultfd-wp,populate-write", report.string("disabled"));
        Json.Obj tracking = finding(report, "dirty-tracking");
        assertEquals("degraded", tracking.string("status"));
        assertEquals("explicit", tracking.get("facts").orElseThrow().asObject().string("tracker"));
        assertTrue(tracking.string("detail").contains("markDirty"), tracking.string("detail"));
        Json.Obj populate = finding(report, "populate-write");
        assertEquals("degraded", populate.string("status"));
        assertTrue(populate.string("detail").contains("faults each page in when it arrives"), populate.string("detail"));
        assertEquals(Json.of(true), report.get("usable").orElseThrow(), "livemig still runs");
    }

    @Test
    void anUnknownFeatureIsAOneLineError() {
        String err = CliRun.of("check", "--disable", "hugepages").oneLineError();
        assertTrue(err.startsWith("livemig: unknown kernel feature \"hugepages\""), err);
    }

    @Test
    void fullAddsTheLoopbackFigure() {
        Json.Obj loopback = finding(check("--full"), "loopback");
        assertEquals("ok", loopback.string("status"), loopback.toString());
        assertTrue(loopback.get("facts").orElseThrow().asObject().number("mib_per_s") > 0);
    }
}
