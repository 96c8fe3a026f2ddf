package dev.livemig.qemu;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParser;
import dev.livemig.json.JsonWriter;

import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * livemig's side of scripts/bench-cpr.sh: reads the one JSON object of {@code livemig demo --mode cpr-transfer
 * --json} on stdin and prints the line {@link QemuCprTransferBench} prints, plus what the demo's service clients saw.
 * A demo that did not verify prints its status and verification and exits 1.
 *
 * <pre>livemig demo --ram 1G --mode cpr-transfer --json | java ... CprDemoFigures 1024</pre>
 */
public final class CprDemoFigures {
    private CprDemoFigures() {
    }

    public static void main(String[] args) throws IOException, dev.livemig.json.JsonParseException {
        long mib = Long.parseLong(args[0]);
        Json.Obj demo = JsonParser.parse(new String(System.in.readAllBytes(), StandardCharsets.UTF_8).strip()).asObject();
        Json.Obj info = demo.get("query-migrate").orElseThrow().asObject();
        boolean verified = demo.get("verified").map(v -> v instanceof Json.Bool(boolean b) && b).orElse(false);
        var line = Json.object()
                .put("tool", "livemig")
                .put("status", info.string("status"))
                .put("verified", verified)
                .put("ram_bytes", mib << 20)
                .put("total_ms", info.number("total-time"))
                .put("downtime_ms", info.number("downtime"))
                .put("stop_to_running_ms", demo.get("stop_to_running_ms").orElse(new Json.Null()))
                .put("transferred_bytes", info.get("ram").orElseThrow().asObject().number("transferred"));
        if (demo.get("service").orElse(null) instanceof Json.Obj s) {
            line.put("client_requests", s.number("answered")).put("client_failures", s.number("failed"))
                    .put("client_max_latency_us", s.number("max_latency_us")).put("client_p99_latency_us", s.number("p99_latency_us"));
        }
        if (!verified) {
            line.put("verification", demo.string("verification"));
        }
        System.out.println(JsonWriter.compact(line.build()));
        if (!verified) {
            System.exit(1);
        }
    }
}
