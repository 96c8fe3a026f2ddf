package dev.livemig.qemu;

import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * QEMU's side of the postcopy benchmark (scripts/bench-postcopy.sh): a running pc guest (TCG) whose boot sector
 * ({@link SweeperBootSector}) dirties every page below 4 GiB round after round, far faster than any link sends
 * them, migrated over loopback tcp with postcopy-ram (and postcopy-preempt when asked), max-bandwidth 100 GiB/s,
 * downtime-limit 300 ms. QEMU gets migrate-start-postcopy once its dirty-sync-count reaches 4 (one sync at
 * setup, one after each pass), as livemig's demo does with {@code --postcopy-at-sync 4}. Prints one JSON line: QEMU's total-time and downtime, the destination's
 * postcopy-blocktime, and the fault latency p50/p99 from the destination's trace (from postcopy_page_req_add,
 * when its fault thread asks for a page, to postcopy_page_req_del, when the page is placed: the interval
 * livemig's page server measures). QEMU 10.0 reports no latency of its own (10.1 adds it).
 *
 * <pre>java -cp livemig-core/target/classes:livemig-core/target/test-classes dev.livemig.qemu.QemuPostcopyBench 1024 [preempt]</pre>
 * {@code -Dlivemig.qemu=10.0} runs QEMU 10.0 (scripts/install-qemu10.sh) instead of the system's 7.2.
 */
public final class QemuPostcopyBench {
    private static final int SWITCH_AT_SYNC = 4;
    private static final Pattern TRACE = Pattern.compile("^\\d+@(\\d+)\\.(\\d{6}):postcopy_page_req_(add|del) \\S+ page req (0x[0-9a-f]+)");

    private QemuPostcopyBench() {
    }

    public static void main(String[] args) throws Exception {
        long mib = Long.parseLong(args[0]);
        boolean preempt = args.length > 1 && args[1].equals("preempt");
        String wanted = System.getProperty("livemig.qemu", QemuVersion.V7_2.label());
        QemuVersion version = Arrays.stream(QemuVersion.values()).filter(v -> v.label().equals(wanted)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("livemig.qemu must be 7.2 or 10.0: " + wanted));
        Path work = Files.createTempDirectory(Path.of("/dev/shm"), "livemig-qemu-postcopy-");
        try {
            byte[] sector = SweeperBootSector.sweepingUpTo(SweeperBootSector.endFor(mib << 20));
            Path srcDisk = Files.write(work.resolve("src-boot.img"), sector); // one image each: QEMU locks them
            Path dstDisk = Files.write(work.resolve("dst-boot.img"), sector);
            Path trace = work.resolve("dst-trace.log");
            int port;
            try (ServerSocket s = new ServerSocket(0)) {
                port = s.getLocalPort();
            }
            var source = QemuOptions.paused("pc").withPaused(false).on(version).withMemory(mib + "M")
                    .withArgs("-drive", "file=" + srcDisk + ",format=raw,if=ide").withStartTimeout(Duration.ofSeconds(60));
            var dest = QemuOptions.incoming("pc", "defer").on(version).withMemory(mib + "M")
                    .withArgs("-drive", "file=" + dstDisk + ",format=raw,if=ide", "-msg", "timestamp=on",
                            "-trace", "enable=postcopy_page_req_add", "-trace", "enable=postcopy_page_req_del", "-D", trace.toString())
                    .withStartTimeout(Duration.ofSeconds(60));
            try (QemuProcess dst = QemuProcess.start(dest); QemuProcess src = QemuProcess.start(source)) {
                awaitSweeping(src);
                long dirtyRate = dirtyRate(src, SweeperBootSector.endFor(mib << 20) - SweeperBootSector.START);
                var caps = new ArrayList<Json>(List.of(capability("postcopy-ram")));
                if (preempt) {
                    caps.add(capability("postcopy-preempt"));
                }
                src.qmp().execute("migrate-set-capabilities", Json.object().put("capabilities", new Json.Arr(caps)).build());
                caps.add(capability("postcopy-blocktime"));
                dst.qmp().execute("migrate-set-capabilities", Json.object().put("capabilities", new Json.Arr(caps)).build());
                src.qmp().execute("migrate-set-parameters", Json.object().put("max-bandwidth", 100L << 30)
                        .put("downtime-limit", 300).build());
                dst.qmp().execute("migrate-incoming", Json.object().put("uri", "tcp:127.0.0.1:" + port).build());
                src.qmp().execute("migrate", Json.object().put("uri", "tcp:127.0.0.1:" + port).build());
                Json.Obj atSwitch = switchWhenStuck(src);
                long switchedAtSync = atSwitch.get("ram").orElseThrow().asObject().number("dirty-sync-count");
                long migratingDirtyRate = atSwitch.get("ram").orElseThrow().asObject().number("dirty-pages-rate") * 4096;
                Json.Obj info = src.waitForMigration(Duration.ofMinutes(10));
                Json.Obj arrived = dst.waitForMigration(Duration.ofMinutes(1));
                byte[] before = dst.readGuestMemory(SweeperBootSector.START, 1);
                Thread.sleep(200);
                byte[] after = dst.readGuestMemory(SweeperBootSector.START, 1);
                List<Long> latencies = faultLatenciesMicros(trace);
                Json.Obj ram = info.get("ram").orElseThrow().asObject();
                System.out.println(JsonWriter.compact(Json.object()
                        .put("tool", "qemu-" + QemuProcess.version(version))
                        .put("status", info.string("status"))
                        .put("ram_bytes", mib << 20)
                        .put("dirtied_bytes", SweeperBootSector.endFor(mib << 20) - SweeperBootSector.START)
                        .put("guest_dirty_bytes_per_s", dirtyRate)
                        .put("migrating_dirty_bytes_per_s", migratingDirtyRate)
                        .put("postcopy_preempt", preempt)
                        .put("switched_at_dirty_sync", switchedAtSync)
                        .put("total_ms", info.number("total-time"))
                        .put("downtime_ms", info.number("downtime"))
                        .put("transferred_bytes", ram.number("transferred"))
                        .put("postcopy_requests", ram.has("postcopy-requests") ? ram.number("postcopy-requests") : -1)
                        .put("blocktime_ms", arrived.has("postcopy-blocktime") ? arrived.number("postcopy-blocktime") : -1)
                        .put("faults_traced", latencies.size())
                        .put("fault_latency_p50_us", percentile(latencies, 50))
                        .put("fault_latency_p99_us", percentile(latencies, 99))
                        .put("destination_guest_runs", before[0] != after[0])
                        .build()));
            }
        } finally {
            QemuProcess.deleteTree(work);
        }
    }

    private static Json capability(String name) {
        return Json.object().put("capability", name).put("state", true).build();
    }

    /** Waits until the boot sector sweeps: the first page's counter moves between two reads (the BIOS leaves it). */
    static void awaitSweeping(QemuProcess q) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        byte last = q.readGuestMemory(SweeperBootSector.START, 1)[0];
        while (true) {
            Thread.sleep(100);
            byte now = q.readGuestMemory(SweeperBootSector.START, 1)[0];
            if (now != last) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw q.failure("the guest did not start sweeping within 60 s", null);
            }
        }
    }

    /**
     * Bytes of pages the guest writes per second: the first page's counter read every 100 ms for a second (a few
     * rounds each time, far from the byte's wrap at 256), times the bytes a round writes.
     */
    private static long dirtyRate(QemuProcess q, long sweptBytes) throws IOException, InterruptedException {
        long startNs = System.nanoTime();
        byte last = q.readGuestMemory(SweeperBootSector.START, 1)[0];
        long rounds = 0;
        for (int i = 0; i < 10; i++) {
            Thread.sleep(100);
            byte now = q.readGuestMemory(SweeperBootSector.START, 1)[0];
            rounds += (now - last) & 0xff;
            last = now;
        }
        return (long) (rounds * (double) sweptBytes * 1e9 / (System.nanoTime() - startNs));
    }

    /** migrate-start-postcopy once dirty-sync-count reaches {@value #SWITCH_AT_SYNC}; returns query-migrate then. */
    private static Json.Obj switchWhenStuck(QemuProcess src) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + Duration.ofMinutes(5).toNanos();
        while (true) {
            Json.Obj info = src.qmp().execute("query-migrate").asObject();
            String status = info.get("status").map(Json::asString).orElse("none");
            if (!status.equals("active") && !status.equals("setup")) {
                throw src.failure("migration " + status + " before the switch to postcopy", null);
            }
            long syncs = info.get("ram").map(r -> r.asObject().number("dirty-sync-count")).orElse(0L);
            if (syncs >= SWITCH_AT_SYNC) {
                src.qmp().execute("migrate-start-postcopy");
                return info;
            }
            if (System.nanoTime() > deadline) {
                throw src.failure("precopy did not reach dirty-sync-count " + SWITCH_AT_SYNC + " in 5 minutes", null);
            }
            Thread.sleep(5);
        }
    }

    /** Microseconds from each page request to its page placed, from the destination's trace log. */
    static List<Long> faultLatenciesMicros(Path trace) throws IOException {
        Map<String, Long> asked = new HashMap<>();
        var out = new ArrayList<Long>();
        for (String line : Files.readAllLines(trace)) {
            Matcher m = TRACE.matcher(line);
            if (!m.find()) {
                continue;
            }
            long micros = Long.parseLong(m.group(1)) * 1_000_000 + Long.parseLong(m.group(2));
            if (m.group(3).equals("add")) {
                asked.putIfAbsent(m.group(4), micros);
            } else {
                Long from = asked.remove(m.group(4));
                if (from != null) {
                    out.add(micros - from);
                }
            }
        }
        out.sort(null);
        return out;
    }

    private static long percentile(List<Long> sorted, int p) {
        return sorted.isEmpty() ? -1 : sorted.get(Math.min(sorted.size() - 1, (int) (sorted.size() * (p / 100.0))));
    }
}
