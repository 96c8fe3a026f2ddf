package dev.livemig.cli;

import dev.livemig.cli.guest.DemoGuest;
import dev.livemig.cpr.CprIncoming;
import dev.livemig.json.Json;
import dev.livemig.json.JsonParser;
import dev.livemig.json.JsonWriter;
import dev.livemig.migration.IncomingMigration;
import dev.livemig.migration.MigrationController;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.qmp.QmpServer;
import dev.livemig.wire.MigrationException;
import dev.livemig.transport.HandshakeGate;
import dev.livemig.transport.MigrationUri;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;

/**
 * The destination half of the demo: builds the same guest, receives it from URI (tcp, unix, exec or file),
 * verifies it, resumes it, verifies again. With --qmp it also serves QMP, takes {@code defer} for a URI given
 * later by migrate-incoming, and after the verdict keeps serving until quit, as a QEMU destination stays up.
 * With --json every line on stdout is one JSON object: {"qmp": ADDRESS} with --qmp, {"listening": URI},
 * last the verdict.
 */
@Command(name = "incoming", mixinStandardHelpOptions = true,
        description = "Receive the demo guest from URI (tcp:HOST:PORT, unix:PATH, exec:CMD, file:PATH) and verify it.")
final class IncomingCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "URI", description = "Where to listen or read: tcp:HOST:PORT (port 0 picks one), "
            + "unix:PATH, exec:CMD, file:PATH; or defer (with --qmp) to wait for migrate-incoming.")
    String uri;

    @Mixin
    QmpOption qmp;

    @Mixin
    GuestOptions guest;

    @Mixin
    MigrationOptions migration;

    @Option(names = "--expect", split = ",", paramLabel = "NAME=DIGEST",
            description = "Digests the source computed (RAM block and devices); the load must reproduce them.")
    Map<String, String> expect = new LinkedHashMap<>();

    @Option(names = "--expect-stdin", description = "Read the source's digests as one JSON object line on stdin after the load.")
    boolean expectStdin;

    @Option(names = "--json", description = "Print JSON lines instead of text.")
    boolean json;

    @Option(names = "--cpr-channel", paramLabel = "unix:PATH", description = "Be the new process of a cpr-transfer (QEMU's"
            + " -incoming of channel-type cpr): first read the old process's CPR state on this unix socket and map the RAM it"
            + " hands over, then listen on URI; the stream then carries the devices only.")
    String cprChannel;

    @Mixin
    HandshakeTimeoutOption handshake;

    @Mixin
    JfrOption jfr;

    @Option(names = "--run-after", defaultValue = "0", paramLabel = "MS",
            description = "After verification, let the guest run this long and verify again.")
    long runAfterMs;

    @Override
    public Integer call() throws Exception {
        try (AutoCloseable recording = jfr.start()) {
            return run();
        }
    }

    private Integer run() throws Exception {
        guest.check();
        HandshakeGate gate = handshake.gate();
        MigrationConfig config = migration.config(MigrationConfig.defaults());
        var objects = migration.objects();
        boolean defer = uri.equals("defer");
        if (defer && !qmp.given()) {
            throw new MigrationException("URI defer waits for QMP migrate-incoming and needs --qmp");
        }
        try (CprIncoming cpr = cprChannel == null ? null : awaitCprState(cprChannel);
             DemoGuest g = cpr == null ? new DemoGuest(guest.ram, guest.dirtyRate) : DemoGuest.overHandedOver(cpr, guest.ram, guest.dirtyRate);
             QmpServer server = qmp.given() ? qmp.listenOn(withCpr(QmpServer.builder(g.machine()).config(config).objects(objects)
                     .incoming(defer ? null : MigrationUri.parse(uri), false, gate), cpr)).start() : null;
             // without QMP the command drives the controller itself (with QMP, the server's serves the clients)
             // with postcopy the guest starts at the switch, as QEMU's does, and runs while its RAM still arrives
             MigrationController direct = server != null ? null
                     : withCpr(MigrationController.builder(g.machine()).config(config).objects(objects)
                     .destination(MigrationUri.parse(uri), startsAtOnce(config, g, cpr != null), gate), cpr).build()) {
            IncomingMigration incoming;
            if (server != null) {
                line(Json.object().put("qmp", qmp.bound(server)).build(), "QMP on " + qmp.bound(server));
                try {
                    incoming = server.incomingStarted().toCompletableFuture().join();
                } catch (CompletionException e) {
                    line(Json.object().put("status", "none").put("error", e.getCause().getMessage()).build(),
                            "no incoming migration: " + e.getCause().getMessage());
                    return 1;
                }
            } else {
                direct.startIncoming();
                incoming = direct.migrations().incoming().orElseThrow();
            }
            MigrationUri address = incoming.address();
            WildcardWarning.forIncoming(address).ifPresent(System.err::println);
            line(Json.object().put("listening", address.toString()).build(), "listening on " + address);
            long t0 = System.nanoTime();
            incoming.awaitFinished(Long.MAX_VALUE, TimeUnit.DAYS);
            long loadMs = (System.nanoTime() - t0) / 1_000_000;
            String problem = incoming.status() == MigrationStatus.COMPLETED ? null : "migration " + incoming.status().qemuName()
                    + (incoming.error() == null ? "" : ": " + incoming.error());
            Map<String, String> expected = new LinkedHashMap<>(expect);
            if (expectStdin) { // first: reading gigabytes here would slow the source's own reading and its clients
                expected.putAll(readDigests());
            }
            Map<String, String> loaded = Map.of();
            if (problem == null) {
                DemoGuest.Reading reading = g.read(); // one still instant, even if a QMP cont came first
                loaded = reading.digests();
                problem = reading.sweepProblem();
            }
            long ranRounds = 0;
            if (problem == null && incoming.sourceRunState().isRunning() && runAfterMs > 0) {
                long before = g.counter().rounds();
                g.machine().resume();
                Thread.sleep(runAfterMs);
                if (cpr == null) { // cpr-transfer's guest serves its clients on (the check pauses it for a moment)
                    g.machine().pause();
                }
                ranRounds = g.counter().rounds() - before;
                String after = g.verify(Map.of());
                problem = after == null ? null : "after resuming: " + after;
            }
            Map<String, String> startedWith = g.devicesAtStart();
            if (startedWith != null) {
                // it ran here before the load ended: its counters moved on, its content and the devices it started
                // with are the source's
                expected.remove(DemoGuest.RAM_BLOCK);
            }
            if (problem == null) {
                for (var e : expected.entrySet()) {
                    String got = startedWith != null && startedWith.containsKey(e.getKey()) ? startedWith.get(e.getKey())
                            : loaded.get(e.getKey());
                    if (!e.getValue().equals(got)) {
                        problem = e.getKey() + " differs: source digest " + e.getValue() + ", loaded " + got;
                        break;
                    }
                }
            }
            String verification = problem != null ? problem : "RAM follows the sweep rule"
                    + (expected.isEmpty() ? "" : "; digests of " + String.join(", ", expected.keySet()) + " match the source")
                    + (startedWith != null ? " (devices as the guest started here, " + (cpr != null ? "as the load ended)" : "at the switch to postcopy)") : "")
                    + (ranRounds > 0 ? "; the guest ran " + ranRounds + " more rounds here and still follows the rule" : "");
            if (json) {
                System.out.println(JsonWriter.compact(Json.object()
                        .put("verified", problem == null)
                        .put("verification", verification)
                        .put("load_ms", loadMs)
                        .put("status", incoming.status().qemuName())
                        .put("source_run_state", incoming.sourceRunState() == null ? "unknown" : incoming.sourceRunState().qemuName())
                        .put("rounds_after_resume", ranRounds)
                        .put("postcopy", incoming.postcopyOutcome().map(IncomingCommand::postcopyJson).orElse(new Json.Null()))
                        .put("resumed_at_epoch_us", g.firstResumed() == null ? new Json.Null()
                                : Json.of(g.firstResumed().getEpochSecond() * 1_000_000L + g.firstResumed().getNano() / 1_000))
                        .put("service_served", g.service().map(s -> (Json) Json.of(s.served())).orElse(new Json.Null()))
                        .build()));
            } else {
                System.out.printf("incoming migration %s in %d ms%n", incoming.status().qemuName(), loadMs);
                incoming.postcopyOutcome().ifPresent(o -> System.out.println(postcopyText(o)));
                System.out.println((problem == null ? "verified: " : "VERIFICATION FAILED: ") + verification);
            }
            System.out.flush();
            if (server != null) {
                server.awaitClosed(); // until quit: the guest stays paused until cont, as QEMU's with -S
            }
            return problem == null ? 0 : 1;
        }
    }

    /**
     * cpr-transfer's new process, first step: listen on the cpr socket, announce it (the old process connects there
     * when it migrates), and read the CPR state that comes.
     */
    private CprIncoming awaitCprState(String channel) throws MigrationException {
        if (!(MigrationUri.parse(channel) instanceof MigrationUri.Unix unix)) {
            throw new MigrationException("bad cpr channel socket type; must be unix");
        }
        dev.livemig.migration.CodeWarmUp.startOnce(); // the wait for the old process pays for it, not the downtime
        try (CprIncoming.Listener listener = CprIncoming.listen(unix.path())) {
            line(Json.object().put("cpr_listening", unix.toString()).build(), "cpr channel: listening on " + unix);
            return listener.accept(-1);
        }
    }

    private static QmpServer.Builder withCpr(QmpServer.Builder b, CprIncoming cpr) {
        return cpr == null ? b : b.cprIncoming(cpr);
    }

    private static MigrationController.Builder withCpr(MigrationController.Builder b, CprIncoming cpr) {
        return cpr == null ? b : b.cprIncoming(cpr);
    }

    /**
     * What the postcopy page server measured, in the JSON line: latencies in microseconds (the histogram's buckets
     * by their lower bound), blocktime in ms, per guest thread by its kernel thread id.
     */
    static Json postcopyJson(dev.livemig.postcopy.PageServerProcess.Outcome o) {
        var f = o.faults();
        var histogram = Json.object();
        long[] buckets = f.latencyHistogram();
        for (int i = 0; i < buckets.length; i++) {
            if (buckets[i] > 0) {
                histogram.put(Long.toString(i == 0 ? 0 : 1L << i), buckets[i]);
            }
        }
        var threads = Json.object();
        f.threads().forEach(t -> threads.put(Long.toString(t.threadId()), t.nanos() / 1_000_000));
        return Json.object().put("pages_placed", o.pagesPlaced()).put("faults", f.faults()).put("requests", f.requests())
                .put("fault_latency_p50_us", f.latencyP50Nanos() / 1_000).put("fault_latency_p99_us", f.latencyP99Nanos() / 1_000)
                .put("fault_latency_histogram_us", histogram.build())
                .put("blocktime_ms", f.blocktimeNanos() / 1_000_000).put("thread_blocktime_ms", threads.build()).build();
    }

    static String postcopyText(dev.livemig.postcopy.PageServerProcess.Outcome o) {
        var f = o.faults();
        return String.format(java.util.Locale.ROOT, "postcopy: %d pages after the switch, %d faults, %d page requests,"
                        + " fault latency p50 %.2f ms p99 %.2f ms, blocktime %d ms (%d guest threads waited)", o.pagesPlaced(),
                f.faults(), f.requests(), f.latencyP50Nanos() / 1e6, f.latencyP99Nanos() / 1e6, f.blocktimeNanos() / 1_000_000,
                f.threads().size());
    }

    /**
     * Whether the guest starts at once, its device digests kept as it starts: when the source switches to postcopy
     * (capability postcopy-ram), and as the new process of a cpr-transfer (its service's clients wait); otherwise it
     * stays paused until verified.
     */
    private static boolean startsAtOnce(MigrationConfig config, DemoGuest g, boolean cprTransfer) {
        if (!config.has(dev.livemig.migration.MigrationCapability.POSTCOPY_RAM) && !cprTransfer) {
            return false;
        }
        g.captureDevicesAtNextResume();
        return true;
    }

    /** One line on stdout: the JSON object with --json, the text otherwise. */
    private void line(Json.Obj asJson, String asText) {
        System.out.println(json ? JsonWriter.compact(asJson) : asText);
        System.out.flush();
    }

    private final BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));

    private Map<String, String> readDigests() throws Exception {
        String line = stdin.readLine();
        var out = new LinkedHashMap<String, String>();
        if (line == null) {
            return out;
        }
        for (Json.Member m : JsonParser.parse(line).asObject().members()) {
            out.put(m.name(), m.value().asString());
        }
        return out;
    }
}
