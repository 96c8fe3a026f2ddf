package dev.livemig.qemu;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParser;
import dev.livemig.json.JsonWriter;

import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * livemig's side of scripts/bench-postcopy.sh: reads the one JSON object of {@code livemig demo --json} on stdin
 * and prints the line {@link QemuPostcopyBench} prints, from the source's query-migrate and the destination page
 * server's figures. A demo that did not verify prints its status and verification and exits 1.
 *
 * <pre>livemig demo --ram 1G --dirty-rate 0 --capability postcopy-ram ... --json | java ... PostcopyDemoFigures 1024 plain</pre>
 */
public final class PostcopyDemoFigures {
    private PostcopyDemoFigures() {
    }

    public static void main(String[] args) throws IOException, dev.livemig.json.JsonParseException {
        long mib = Long.parseLong(args[0]);
        String text = new String(System.in.readAllBytes(), StandardCharsets.UTF_8).strip();
        Json.Obj demo = JsonParser.parse(text).asObject();
        Json.Obj info = demo.get("query-migrate").orElseThrow().asObject();
        Json.Obj ram = info.get("ram").orElseThrow().asObject();
        boolean verified = demo.get("verified").map(v -> v instanceof Json.Bool(boolean b) && b).orElse(false);
        var line = Json.object()
                .put("tool", "livemig")
                .put("status", info.string("status"))
                .put("verified", verified)
                .put("ram_bytes", mib << 20)
                .put("dirtied_bytes", mib << 20)
                .put("guest_dirty_bytes_per_s", demo.number("guest_dirty_bytes_per_s"))
                // while migrating (query-migrate's last dirty-pages-rate): what dirty tracking left of it
                .put("migrating_dirty_bytes_per_s", ram.number("dirty-pages-rate") * 4096)
                .put("postcopy_preempt", args.length > 1 && args[1].equals("preempt"))
                .put("total_ms", info.number("total-time"))
                .put("downtime_ms", info.number("downtime"))
                .put("transferred_bytes", ram.number("transferred"))
                .put("postcopy_requests", ram.number("postcopy-requests"));
        if (demo.get("postcopy").orElse(null) instanceof Json.Obj p) {
            line.put("blocktime_ms", p.number("blocktime_ms"))
                    .put("faults_traced", p.number("requests"))
                    .put("fault_latency_p50_us", p.number("fault_latency_p50_us"))
                    .put("fault_latency_p99_us", p.number("fault_latency_p99_us"));
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
