package dev.livemig.cli;

import dev.livemig.cli.guest.DemoGuest;
import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;
import dev.livemig.migration.IncomingMigration;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.transport.MigrationUri;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The soak's destination: one long-lived process that receives one migration after another. {@code livemig
 * incoming} takes one migration per process, as QEMU does, so this main class builds a fresh demo guest and
 * {@link IncomingMigration} for each: every line "next" on stdin makes it listen on tcp 127.0.0.1 (port
 * chosen by the kernel) and print {"listening": URI}, then, when the load ended, its verdict
 * {"status": S, "verified": B, "problem": TEXT}; the guest is closed before the next line is read. The end
 * of stdin ends the process.
 *
 * <p>Arguments: RAM bytes, then the capabilities the source uses (comma-separated), then multifd-channels.
 */
public final class SoakDestination {
    private SoakDestination() {
    }

    public static void main(String[] args) throws Exception {
        long ram = Long.parseLong(args[0]);
        MigrationConfig config = new MigrationConfig(dev.livemig.migration.MigrationCapability.setOf(args[1].split(",")), 300, 1L << 30)
                .withParameter("multifd-channels", args[2]);
        var in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            if (!line.equals("next")) {
                throw new IllegalArgumentException("unexpected line on stdin: " + line);
            }
            try (var guest = new DemoGuest(ram, 0)) {
                var incoming = dev.livemig.testing.Controllers.listen(guest.machine(), config, MigrationUri.parse("tcp:127.0.0.1:0"), false);
                MigrationUri at = incoming.address();
                print(Json.object().put("listening", at.toString()).build());
                incoming.awaitFinished(Long.MAX_VALUE, TimeUnit.DAYS);
                String problem = incoming.status() == MigrationStatus.COMPLETED ? guest.verify(Map.of())
                        : "migration " + incoming.status().qemuName() + ": " + incoming.error();
                print(Json.object().put("status", incoming.status().qemuName()).put("verified", problem == null)
                        .put("problem", problem == null ? "" : problem).build());
            }
        }
    }

    private static void print(Json.Obj line) {
        System.out.println(JsonWriter.compact(line));
        System.out.flush();
    }
}
