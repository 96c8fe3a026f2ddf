package dev.livemig.cli;

import dev.livemig.host.HostCheck;
import dev.livemig.host.HostChecks;
import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;
import dev.livemig.machine.HostFeatures;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code livemig check}: what this host offers livemig and what livemig does with it, one line per feature
 * (like {@code criu check}). Exit status 0 when livemig can run here at all, 1 when an essential check fails.
 */
@Command(name = "check", mixinStandardHelpOptions = true,
        description = {"Tell what this host offers livemig (userfaultfd, PAGEMAP_SCAN, zero page, MSG_ZEROCOPY, THP, "
                + "memfd, first-touch speed…) and what livemig does with it: ok, degraded (which fallback) or missing.",
                "Exit status 0 when livemig can run here at all."})
final class CheckCommand implements Callable<Integer> {
    /** Enough to see loopback's rate past connection set-up, a second or two on a slow host. */
    private static final long LOOPBACK_BYTES = 1L << 30;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--json", description = "Print one JSON object instead of lines.")
    boolean json;

    @Option(names = "--full", description = "Also measure loopback TCP throughput (1 GiB).")
    boolean full;

    @Option(names = "--disable", paramLabel = "FEATURES", description = "Report as if these kernel features were "
            + "switched off, as -D" + HostFeatures.PROPERTY + "=FEATURES does for a migration "
            + "(userfaultfd-wp, pagemap-scan, populate-write, msg-zerocopy, all).")
    String disable = "";

    @Override
    public Integer call() throws Exception {
        HostFeatures features = HostFeatures.fromSystemProperties().without(
                HostFeatures.parse(disable).disabled().toArray(dev.livemig.machine.KernelFeature[]::new));
        List<HostCheck> checks = new ArrayList<>(HostChecks.all(features));
        if (full) {
            checks.add(loopback());
        }
        boolean usable = checks.stream().allMatch(HostCheck::permitsRunning);
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            var array = new ArrayList<Json>();
            checks.forEach(c -> array.add(c.toJson()));
            out.println(JsonWriter.pretty(Json.object()
                    .put("usable", usable)
                    .put("disabled", features.toString())
                    .put("checks", new Json.Arr(array))
                    .build(), 2));
        } else {
            int width = checks.stream().mapToInt(c -> c.name().length()).max().orElse(0);
            for (HostCheck c : checks) {
                out.printf("%-9s %-" + width + "s  %s%n", c.status().word(), c.name(), c.detail());
            }
            long degraded = checks.stream().filter(c -> c.status() == HostCheck.Status.DEGRADED).count();
            long missing = checks.stream().filter(c -> c.status() == HostCheck.Status.MISSING).count();
            out.println(usable ? "livemig can run here (" + degraded + " degraded, " + missing + " missing)"
                    : "livemig cannot run here: " + checks.stream().filter(c -> !c.permitsRunning())
                    .map(HostCheck::name).toList());
        }
        out.flush();
        return usable ? 0 : 1;
    }

    private static HostCheck loopback() {
        try {
            long ns = LoopbackBench.transferNanos(LOOPBACK_BYTES);
            long mibPerSecond = (long) (LOOPBACK_BYTES / 1048576.0 / (ns / 1e9));
            return new HostCheck("loopback", HostCheck.Status.OK, mibPerSecond + " MiB/s over one loopback TCP "
                    + "connection (1 GiB): the ceiling of a local migration", false,
                    Json.object().put("mib_per_s", mibPerSecond).put("bytes", LOOPBACK_BYTES).build());
        } catch (java.io.IOException e) {
            return new HostCheck("loopback", HostCheck.Status.MISSING, "loopback TCP failed: " + e.getMessage(), false,
                    Json.object().put("error", String.valueOf(e.getMessage())).build());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new HostCheck("loopback", HostCheck.Status.MISSING, "interrupted", false, Json.object().build());
        }
    }

}
