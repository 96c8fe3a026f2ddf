package dev.livemig.cli;

import dev.livemig.migration.MigrationCapability;
import dev.livemig.host.HostFacts;
import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;
import dev.livemig.machine.HostFeatures;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RamBlock;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.migration.MigrationController;
import dev.livemig.migration.MigrationParameter;
import dev.livemig.migration.MigrationInfo;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.transport.MigrationUri;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

/** {@code livemig bench}: end-to-end measurements between two processes (JMH covers the micro level). */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "End-to-end benchmarks.",
        subcommands = {BenchCommand.Precopy.class, BenchCommand.Incoming.class, LoopbackBench.class})
final class BenchCommand implements Runnable {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    /** "Unlimited" as in baseline.md: max-bandwidth 100 GiB/s. */
    static final long UNLIMITED = 100L << 30;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /**
     * The credentials of one end for --tls-dir: a directory with QEMU's x509 file names for both endpoints (ca-cert,
     * server-cert/-key, client-cert/-key), as QEMU's bench is given too; tls0 is what tls-creds names.
     */
    static dev.livemig.transport.tls.UserObjects tlsObjects(Path dir, String endpoint) throws dev.livemig.wire.MigrationException {
        var objects = new dev.livemig.transport.tls.UserObjects();
        if (dir != null) {
            try {
                objects.add("tls-creds-x509", "tls0", Json.object().put("dir", dir.toString()).put("endpoint", endpoint).build());
            } catch (dev.livemig.transport.tls.UserObjectException e) {
                throw new dev.livemig.wire.MigrationException("--tls-dir " + dir + ": " + e.getMessage(), e);
            }
        }
        return objects;
    }

    /** CPU time this process has used, all threads (the JVM's own included), in milliseconds. */
    static long cpuMillis() {
        return ProcessHandle.current().info().totalCpuDuration().map(java.time.Duration::toMillis).orElse(-1L);
    }

    static Machine machine(long ram) {
        return Machine.builder("livemig-bench").ram("bench.ram", ram).build();
    }

    static void fill(RamBlock block, String content) {
        var rnd = new SplittableRandom(42);
        long step = switch (content) {
            case "zero" -> 0;
            case "random" -> RamBlock.TARGET_PAGE_SIZE;
            case "half" -> 2L * RamBlock.TARGET_PAGE_SIZE;
            default -> throw new IllegalArgumentException("--content must be zero, random or half: " + content);
        };
        if (step == 0) {
            return;
        }
        for (long page = 0; page < block.usedLength(); page += step) {
            for (int i = 0; i < RamBlock.TARGET_PAGE_SIZE; i += 8) {
                block.memory().set(ValueLayout.JAVA_LONG_UNALIGNED, page + i, rnd.nextLong());
            }
        }
    }

    @Command(name = "precopy", mixinStandardHelpOptions = true,
            description = "Migrate a paused machine to a second process and print one JSON line of figures.")
    static final class Precopy implements Callable<Integer> {
        @Option(names = "--ram", converter = Sizes.class, defaultValue = "1G", paramLabel = "SIZE")
        long ram;

        @Option(names = "--content", defaultValue = "random", paramLabel = "zero|random|half")
        String content;

        @Option(names = "--transport", defaultValue = "tcp", paramLabel = "tcp|unix")
        String transport;

        @Option(names = "--tls-dir", paramLabel = "DIR", description = "Run every channel over TLS (x509) with the "
                + "credentials in DIR (QEMU's file names, both endpoints' files).")
        Path tlsDir;

        @Mixin
        MigrationOptions migration;

        @Override
        public Integer call() throws Exception {
            dev.livemig.migration.CodeWarmUp.startOnce(); // a source: its page loops compiled before it migrates
            MigrationConfig config = migration.config(new MigrationConfig(Set.of(), MigrationConfig.DEFAULT_DOWNTIME_LIMIT_MS, UNLIMITED));
            if (tlsDir != null) {
                config = config.withParameter("tls-creds", "tls0");
                if (transport.equals("unix")) {
                    config = config.withParameter("tls-hostname", "localhost"); // a unix socket names no host
                }
            }
            String listen = switch (transport) {
                case "tcp" -> "tcp:127.0.0.1:0";
                case "unix" -> "unix:" + Path.of(System.getProperty("java.io.tmpdir"), "livemig-bench-" + ProcessHandle.current().pid() + ".sock");
                default -> throw new IllegalArgumentException("--transport must be tcp or unix: " + transport);
            };
            // measured first, before either end maps its RAM: what fresh memory costs on this host
            HostFacts host = HostFacts.measure(HostFeatures.fromSystemProperties());
            try (Machine m = machine(ram)) {
                List<String> args = new ArrayList<>(List.of("--ram", Long.toString(ram)));
                migration.capabilities.forEach(c -> args.addAll(List.of("--capability", c)));
                migration.parameters.forEach(p -> args.addAll(List.of("--parameter", p))); // multifd-channels must agree
                if (tlsDir != null) {
                    args.addAll(List.of("--tls-dir", tlsDir.toString()));
                }
                var destArgs = new ArrayList<String>();
                destArgs.add(listen);
                destArgs.addAll(args);
                // the destination is up before the source is ready, as when a host is prepared for a guest:
                // it faults its RAM in while it waits (QEMU's destination allocates at start too)
                try (LivemigProcess dest = LivemigProcess.start("bench", destArgs)) {
                    MigrationUri at = MigrationUri.parse(dest.nextLine().string("listening"));
                    fill(m.ramBlocks().getFirst(), content);
                    long hugeBytes = m.ramBlocks().getFirst().hugePageBytes();
                    MigrationInfo info;
                    long cpuBefore = cpuMillis();
                    try (var controller = MigrationController.builder(m).config(config).objects(tlsObjects(tlsDir, "client")).build()) {
                        info = controller.migrate(at).completion().toCompletableFuture().get(1, TimeUnit.HOURS);
                    }
                    long cpuMs = cpuMillis() - cpuBefore;
                    MigrationStatus end = info.status();
                    Json.Obj loaded = dest.nextLine();
                    double seconds = info.totalTimeMs() / 1000.0;
                    System.out.println(JsonWriter.compact(Json.object()
                            .put("tool", "livemig")
                            .put("status", end.qemuName())
                            .put("ram_bytes", ram)
                            .put("content", content)
                            .put("transport", transport)
                            .put("multifd_channels", config.has(MigrationCapability.MULTIFD) ? config.longValue(MigrationParameter.MULTIFD_CHANNELS) : 0)
                            .put("multifd_compression", config.has(MigrationCapability.MULTIFD) ? config.text(MigrationParameter.MULTIFD_COMPRESSION) : "-")
                            .put("zero_copy_send", config.has(MigrationCapability.ZERO_COPY_SEND))
                            .put("tls", tlsDir != null)
                            .put("total_ms", info.totalTimeMs())
                            .put("downtime_ms", info.downtimeMs())
                            .put("setup_ms", info.setupTimeMs())
                            .put("throughput_mib_s", (long) (ram / 1048576.0 / Math.max(seconds, 0.001)))
                            .put("transferred_bytes", info.ram().transferred())
                            .put("source_cpu_ms", cpuMs) // the migration's, from migrate to completed
                            // peak RSS beyond guest RAM: JVM, bitmaps, buffers (random RAM is all resident)
                            .put("source_peak_rss_bytes", PeakMemory.peakResidentBytes())
                            .put("source_huge_page_bytes", hugeBytes) // of guest RAM, before the migration
                            .put("destination", loaded)
                            .put("host", host.toJson())
                            .build()));
                    return end == MigrationStatus.COMPLETED ? 0 : 1;
                }
            }
        }
    }

    @Command(name = "incoming", mixinStandardHelpOptions = true,
            description = "The destination of bench precopy: prints {\"listening\": URI}, then the outcome.")
    static final class Incoming implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "URI")
        String uri;

        @Option(names = "--ram", converter = Sizes.class, defaultValue = "1G", paramLabel = "SIZE")
        long ram;

        @Option(names = "--json", description = "Accepted for symmetry; output is always JSON lines.")
        boolean json;

        @Option(names = "--tls-dir", paramLabel = "DIR", description = "TLS (x509) with the server credentials in DIR.")
        Path tlsDir;

        @Mixin
        MigrationOptions migration;

        @Override
        public Integer call() throws Exception {
            MigrationConfig config = migration.config(MigrationConfig.defaults());
            if (tlsDir != null) {
                config = config.withParameter("tls-creds", "tls0");
            }
            try (Machine m = machine(ram); var controller = MigrationController.builder(m).config(config)
                    .objects(tlsObjects(tlsDir, "server"))
                    .destination(MigrationUri.parse(uri), false, dev.livemig.transport.HandshakeGate.DEFAULT).build()) {
                controller.startIncoming();
                var in = controller.migrations().incoming().orElseThrow();
                System.out.println(JsonWriter.compact(Json.object().put("listening", in.address().toString()).build()));
                System.out.flush();
                long cpuBefore = cpuMillis(); // RAM faulted in already: what follows is the migration's
                MigrationStatus end = in.awaitFinished(1, TimeUnit.HOURS);
                long cpuMs = cpuMillis() - cpuBefore;
                System.out.println(JsonWriter.compact(Json.object().put("status", end.qemuName())
                        .put("error", in.error() == null ? "" : in.error())
                        .put("peak_rss_bytes", PeakMemory.peakResidentBytes())
                        .put("cpu_ms", cpuMs)
                        .put("huge_page_bytes", m.ramBlocks().getFirst().hugePageBytes()).build()));
                return end == MigrationStatus.COMPLETED ? 0 : 1;
            }
        }
    }
}
