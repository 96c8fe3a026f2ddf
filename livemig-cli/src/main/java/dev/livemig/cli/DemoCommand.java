package dev.livemig.cli;

import dev.livemig.cli.guest.DemoGuest;
import dev.livemig.cli.guest.ServiceClients;
import dev.livemig.host.HostFacts;
import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.migration.MigrationInfo;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.transport.MigrationUri;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * The main job: a demo guest runs here and moves live to a second JVM process, which verifies every byte.
 * The source keeps running while RAM is copied; it stops only for the final switchover.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Live-migrate a running demo guest to a second JVM process and verify it.")
final class DemoCommand implements Callable<Integer> {
    /** The demo's default bandwidth (QEMU's 128 MiB/s default would make a 1 GiB demo take 8 s). */
    static final long DEMO_MAX_BANDWIDTH = 4L << 30;
    static final long DEMO_DIRTY_RATE = 64L << 20;

    @Mixin
    GuestOptions guest;

    @Mixin
    MigrationOptions migration;

    @Mixin
    JfrOption jfr;

    @Option(names = "--transport", defaultValue = "tcp", paramLabel = "tcp|unix|exec|file",
            description = "How the state travels (default ${DEFAULT-VALUE}; exec pipes through socat to a unix socket).")
    String transport;

    @Option(names = "--run-time", defaultValue = "1000", paramLabel = "MS", description = "How long the guest runs before migrating.")
    long runMs;

    @Option(names = "--recover-after-cut", description = "With postcopy-ram: cut the link on purpose (migrate-pause)"
            + " as soon as the migration is in postcopy, and resume it (migrate resume=true) where the destination listens"
            + " again by itself; tcp or unix.")
    boolean recoverAfterCut;

    @Option(names = "--postcopy-at-sync", paramLabel = "N", description = "With postcopy-ram: switch to postcopy once"
            + " dirty-sync-count reaches N (as migrate-start-postcopy issued then) instead of when precopy stops converging.")
    int postcopyAtSync;

    @Option(names = "--mode", paramLabel = "normal|cpr-reboot|cpr-transfer", description = "Parameter mode (as --parameter"
            + " mode=...). cpr-transfer replaces this process's guest by a new process on the same host: its RAM (a memfd) and"
            + " the sockets of the TCP service it runs are handed over, never copied, while clients keep sending requests.")
    String mode;

    @Option(names = "--tls", paramLabel = "psk", description = "Run every channel over TLS: psk makes a fresh random key"
            + " for this run (keys.psk in a private temporary directory) and gives both ends tls-creds-psk objects.")
    String tls;

    @Option(names = "--json", description = "Print one JSON object: {\"query-migrate\": ..., \"verified\": ..., \"verification\": ..., \"host\": ...}.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        try (AutoCloseable recording = jfr.start()) {
            return run();
        }
    }

    private Integer run() throws Exception {
        dev.livemig.migration.CodeWarmUp.startOnce(); // a source: its page loops compiled before it migrates
        guest.check();
        if (recoverAfterCut && (!migration.capabilities.contains("postcopy-ram") || !(transport.equals("tcp") || transport.equals("unix")))) {
            throw new dev.livemig.wire.MigrationException("--recover-after-cut needs --capability postcopy-ram and --transport tcp or unix");
        }
        if (postcopyAtSync != 0 && (postcopyAtSync < 1 || !migration.capabilities.contains("postcopy-ram"))) {
            throw new dev.livemig.wire.MigrationException("--postcopy-at-sync needs --capability postcopy-ram and a count of at least 1");
        }
        if (mode != null) {
            migration.parameters.add("mode=" + mode);
        }
        long dirtyRate = guest.dirtyRate == 0 && !dirtyRateGiven() ? DEMO_DIRTY_RATE : guest.dirtyRate;
        Path pskDir = null;
        if (tls != null) {
            if (!tls.equals("psk") || !(transport.equals("tcp") || transport.equals("unix"))) {
                throw new dev.livemig.wire.MigrationException("--tls takes psk, with --transport tcp or unix (not " + tls
                        + " over " + transport + ")");
            }
            pskDir = DemoPsk.create();
            migration.objects.add("tls-creds-psk,id=tls0,dir=" + pskDir + ",endpoint=client");
            migration.parameters.add("tls-creds=tls0");
        }
        MigrationConfig config = migration.config(new MigrationConfig(Set.of(), MigrationConfig.DEFAULT_DOWNTIME_LIMIT_MS, DEMO_MAX_BANDWIDTH));
        Path scratch = Files.isDirectory(Path.of("/dev/shm")) ? Path.of("/dev/shm") : Path.of(System.getProperty("java.io.tmpdir"));
        String tag = "livemig-demo-" + ProcessHandle.current().pid();
        Path socket = Path.of(System.getProperty("java.io.tmpdir"), tag + ".sock");
        Path file = scratch.resolve(tag + ".stream");
        List<String> common = new ArrayList<>(List.of("--ram", Long.toString(guest.ram), "--run-after", "300", "--expect-stdin"));
        migration.capabilities.forEach(c -> common.addAll(List.of("--capability", c)));
        migration.parameters.forEach(p -> common.addAll(List.of("--parameter", p))); // multifd-channels must agree
        if (pskDir != null) {
            common.addAll(List.of("--object", "tls-creds-psk,id=tls0,dir=" + pskDir + ",endpoint=server"));
        }
        HostFacts host = HostFacts.measure(dev.livemig.machine.HostFeatures.fromSystemProperties());
        say("host: %s", host.summary());
        boolean cprTransfer = config.text(dev.livemig.migration.MigrationParameter.MODE).equals(MigrationConfig.CPR_TRANSFER);
        if (cprTransfer && !(transport.equals("unix") || !transportGiven())) {
            throw new dev.livemig.wire.MigrationException("mode cpr-transfer: the new process runs on this host, and the demo"
                    + " connects both channels by unix sockets (not --transport " + transport + ")");
        }
        Path cprSocket = Path.of(System.getProperty("java.io.tmpdir"), tag + "-cpr.sock");
        try (DemoGuest g = guest.source(dirtyRate, config)) {
            say("guest: %s of RAM (half random, half zero), dirtying %s/s; running for %d ms",
                    Sizes.human(guest.ram), Sizes.human(dirtyRate), runMs);
            g.fillHalf(1);
            g.machine().resume();
            LivemigProcess dest = null;
            MigrationUri target;
            MigrationUri cprChannel = null;
            switch (cprTransfer ? "cpr-transfer" : transport) {
                case "cpr-transfer" -> {
                    // the new process listens on the cpr channel first; it listens on the main one once it has the memory
                    dest = LivemigProcess.start(concat("unix:" + socket, concat("--cpr-channel", concat("unix:" + cprSocket, common))));
                    cprChannel = MigrationUri.parse(dest.nextLine().string("cpr_listening"));
                    target = MigrationUri.parse("unix:" + socket);
                    say("destination: pid %d waiting for the memory on cpr channel %s, then listening on %s", dest.pid(),
                            cprChannel, target);
                }
                case "tcp", "unix", "exec" -> {
                    String listen = transport.equals("tcp") ? "tcp:127.0.0.1:0" : "unix:" + socket;
                    dest = LivemigProcess.start(concat(listen, common));
                    String at = dest.nextLine().string("listening");
                    target = transport.equals("exec") ? MigrationUri.parse("exec:socat - UNIX-CONNECT:" + socket) : MigrationUri.parse(at);
                    say("destination: pid %d listening on %s", dest.pid(), at);
                }
                case "file" -> target = MigrationUri.parse("file:" + file);
                default -> throw new IllegalArgumentException("unknown transport " + transport + " (tcp, unix, exec or file)");
            }
            // cpr-transfer's guest serves TCP clients: they go on through the switch to the new process
            ServiceClients clients = g.service().isPresent()
                    ? ServiceClients.start(g.service().get().address(), SERVICE_CLIENTS, SERVICE_PAUSE_MICROS) : null;
            if (clients != null) {
                say("service: %d clients of the guest's TCP service at %s, each a request every %d µs",
                        SERVICE_CLIENTS, g.service().get().address(), SERVICE_PAUSE_MICROS);
            }
            long pagesBefore = g.pagesWritten();
            long runStartNs = System.nanoTime();
            Thread.sleep(runMs);
            long dirtyRateSeen = (long) ((g.pagesWritten() - pagesBefore) * (double) dev.livemig.machine.RamBlock.TARGET_PAGE_SIZE
                    * 1e9 / Math.max(1, System.nanoTime() - runStartNs));
            say("guest dirtied %s/s before the migration", Sizes.human(dirtyRateSeen));
            SourceRun.LinkCut cut = recoverAfterCut ? new SourceRun.LinkCut() : null;
            java.time.Instant[] stopped = new java.time.Instant[1];
            MigrationInfo info = SourceRun.migrate(g.machine(), config, migration.objects(), new dev.livemig.transport.MigrationChannels(target,
                    java.util.Optional.ofNullable(cprChannel)), json, cut, postcopyAtSync, e -> {
                if (e instanceof dev.livemig.migration.MigrationEvent.Stop && stopped[0] == null) {
                    stopped[0] = java.time.Instant.now();
                }
            });
            if (cprTransfer && dest != null && info.status() == MigrationStatus.COMPLETED) {
                dest.nextLine(); // where it listened on the main channel, once it had the memory
            }
            ServiceClients.Report report = null;
            if (clients != null) {
                Thread.sleep(SERVICE_AFTER_SWITCH_MS); // the clients talk to the new process for a while
                report = clients.stop(); // before either side reads its RAM, which would slow their answers
            }
            Map<String, String> digests = g.digests();
            if (dest == null && info.status() == MigrationStatus.COMPLETED) {
                dest = LivemigProcess.start(concat("file:" + file, common));
                dest.nextLine(); // where it reads from
            }
            Json.Obj verdict;
            if (dest == null) {
                verdict = Json.object().put("verified", false).put("verification", "migration " + info.status().qemuName()
                        + ": " + info.errorDesc()).build();
            } else {
                try (LivemigProcess d = dest) {
                    var line = Json.object();
                    digests.forEach(line::put);
                    d.send(JsonWriter.compact(line.build()));
                    verdict = d.nextLine();
                }
            }
            Double stopToRunningMs = stopped[0] == null || !(verdict.get("resumed_at_epoch_us").orElse(null) instanceof Json.Num)
                    ? null : (verdict.number("resumed_at_epoch_us") - (stopped[0].getEpochSecond() * 1_000_000L
                    + stopped[0].getNano() / 1_000)) / 1e3;
            String serviceProblem = report == null ? null : report.failed() > 0 ? report.failed() + " client requests failed"
                    : report.outOfOrder() > 0 ? report.outOfOrder() + " answers did not grow"
                    : !report.countsAgree() ? "the service counted " + report.highestAnswer() + " requests, the clients had "
                    + report.answered() + " answered" : null;
            boolean verified = info.status() == MigrationStatus.COMPLETED && serviceProblem == null
                    && verdict.get("verified").map(v -> v instanceof Json.Bool(boolean b) && b).orElse(false);
            String verification = verdict.string("verification") + (serviceProblem == null ? "" : "; " + serviceProblem);
            if (json) {
                System.out.println(JsonWriter.compact(Json.object().put("query-migrate", info.toJson())
                        .put("verified", verified).put("verification", verification).put("host", host.toJson())
                        .put("guest_dirty_bytes_per_s", dirtyRateSeen)
                        .put("postcopy", verdict.get("postcopy").orElse(new Json.Null()))
                        .put("service", report == null ? new Json.Null() : serviceJson(report))
                        .put("stop_to_running_ms", stopToRunningMs == null ? new Json.Null() : new Json.Num(String.format(
                                java.util.Locale.ROOT, "%.3f", stopToRunningMs)))
                        .put("recovery", cut == null ? new Json.Null() : Json.object().put("cut", cut.cutAtNs >= 0)
                                .put("paused_ms", cut.pausedMs()).put("resume_attempts", cut.resumeAttempts).build())
                        .build()));
            } else {
                System.out.print(ProgressLine.summary(info));
                System.out.println("dirty tracking: " + dev.livemig.savevm.StandardSections.of(g.machine()).ram().trackerName());
                if (verdict.get("postcopy").orElse(null) instanceof Json.Obj p) { // measured by the destination's page server
                    System.out.printf(java.util.Locale.ROOT, "postcopy at the destination (its guest ran from the switch):"
                                    + " %d page requests, fault latency p50 %.2f ms p99 %.2f ms, blocktime %d ms"
                                    + " (%d guest threads waited)%n", p.number("requests"),
                            p.number("fault_latency_p50_us") / 1e3, p.number("fault_latency_p99_us") / 1e3,
                            p.number("blocktime_ms"), p.get("thread_blocktime_ms").orElseThrow().asObject().members().size());
                }
                if (stopToRunningMs != null && cprTransfer) {
                    System.out.printf(java.util.Locale.ROOT, "cpr-transfer: the guest stopped here and ran in the new process"
                            + " %.1f ms later (its RAM never copied)%n", stopToRunningMs);
                }
                if (report != null) {
                    System.out.printf(java.util.Locale.ROOT, "service: %d clients, %d requests answered, %d failed; longest"
                                    + " latency %.1f ms, p99 %.2f ms; the answers count every request once: %s%n",
                            report.clients(), report.answered(), report.failed(), report.maxLatencyNanos() / 1e6,
                            report.p99LatencyNanos() / 1e6, report.countsAgree() && report.outOfOrder() == 0 ? "yes" : "NO");
                }
                if (cut != null) {
                    System.out.println(cut.cutAtNs < 0 ? "the link was not cut: the migration never was in postcopy"
                            : String.format("link cut in postcopy and recovered: paused %d ms, %d resume attempts",
                            cut.pausedMs(), cut.resumeAttempts));
                }
                System.out.println((verified ? "verified: " : "VERIFICATION FAILED: ") + verification);
            }
            return verified ? 0 : 1;
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(socket);
            Files.deleteIfExists(cprSocket);
        }
    }

    /** The service's load: a few clients, each a request per millisecond or so. */
    static final int SERVICE_CLIENTS = 4;
    static final long SERVICE_PAUSE_MICROS = 1_000;
    static final long SERVICE_AFTER_SWITCH_MS = 500;

    private static Json serviceJson(ServiceClients.Report r) {
        return Json.object().put("clients", r.clients()).put("answered", r.answered()).put("failed", r.failed())
                .put("max_latency_us", r.maxLatencyNanos() / 1_000).put("p99_latency_us", r.p99LatencyNanos() / 1_000)
                .put("answers_count_every_request_once", r.countsAgree() && r.outOfOrder() == 0).build();
    }

    private boolean transportGiven() {
        return spec != null && spec.commandLine().getParseResult().hasMatchedOption("--transport");
    }

    private boolean dirtyRateGiven() {
        return spec != null && spec.commandLine().getParseResult().hasMatchedOption("--dirty-rate");
    }

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    private static List<String> concat(String first, List<String> rest) {
        var all = new ArrayList<String>();
        all.add(first);
        all.addAll(rest);
        return all;
    }

    private void say(String format, Object... args) {
        if (!json) {
            System.out.printf(format + "%n", args);
        }
    }
}
