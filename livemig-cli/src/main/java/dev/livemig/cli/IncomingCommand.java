package dev.livemig.cli;

import dev.livemig.cli.guest.DemoGuest;
import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;
import dev.livemig.savevm.LoadVm;
import dev.livemig.savevm.Snapshots;
import dev.livemig.transport.MigrationUri;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/** The destination half of the demo: builds the same guest, loads the incoming state, verifies it. */
@Command(name = "incoming", mixinStandardHelpOptions = true,
        description = "Receive the demo guest from URI into a new machine and verify it (file: URIs in this version).")
final class IncomingCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "URI", description = "Where the guest comes from: file:PATH[,offset=N].")
    String uri;

    @Mixin
    GuestOptions guest;

    @Option(names = "--expect", split = ",", paramLabel = "NAME=DIGEST",
            description = "Digests the source computed (RAM block and devices); the load must reproduce them.")
    Map<String, String> expect = new LinkedHashMap<>();

    @Option(names = "--json", description = "Print one JSON object with the verdict instead of text.")
    boolean json;

    @Option(names = "--run-after", defaultValue = "0", paramLabel = "MS",
            description = "After verification, resume the guest for this long and report the rounds it ran.")
    long runAfterMs;

    @Override
    public Integer call() throws Exception {
        guest.check();
        MigrationUri where = MigrationUri.parse(uri);
        if (!(where instanceof MigrationUri.File file)) {
            throw new IllegalArgumentException("incoming over " + uri.split(":", 2)[0]
                    + ": is not built yet (live precopy); this version receives snapshots from file: URIs");
        }
        try (DemoGuest g = new DemoGuest(guest.ram, guest.dirtyRate)) {
            if (file.offset() != 0) {
                throw new IllegalArgumentException("file: offsets are not supported for snapshots yet: " + uri);
            }
            long t0 = System.nanoTime();
            LoadVm.Result result = Snapshots.load(g.machine(), file.path());
            long loadMs = (System.nanoTime() - t0) / 1_000_000;
            String problem = g.verify(expect);
            long roundsBefore = g.counter().rounds();
            long ranRounds = 0;
            if (problem == null && runAfterMs > 0) {
                g.machine().resume();
                Thread.sleep(runAfterMs);
                g.machine().pause();
                ranRounds = g.counter().rounds() - roundsBefore;
                String after = g.verify(Map.of());
                if (after != null) {
                    problem = "after resuming: " + after;
                }
            }
            String verification = problem == null
                    ? "RAM follows the sweep rule" + (expect.isEmpty() ? "" : "; digests of " + String.join(", ", expect.keySet()) + " match")
                    : problem;
            if (json) {
                System.out.println(JsonWriter.compact(Json.object()
                        .put("verified", problem == null)
                        .put("verification", verification)
                        .put("load_ms", loadMs)
                        .put("source_run_state", result.sourceRunState().qemuName())
                        .put("rounds_after_resume", ranRounds)
                        .build()));
            } else {
                System.out.printf("loaded %s in %d ms (source was %s)%n", Sizes.human(guest.ram), loadMs, result.sourceRunState().qemuName());
                System.out.println((problem == null ? "verified: " : "VERIFICATION FAILED: ") + verification);
            }
            return problem == null ? 0 : 1;
        }
    }
}
