package dev.livemig.qemu;

import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * QEMU 10.0's side of the cpr-transfer benchmark (scripts/bench-cpr.sh): a running pc guest (TCG) whose RAM is a
 * memfd (memory-backend-memfd, share=on, aux-ram-share=on) and whose boot sector ({@link SweeperBootSector}) sweeps
 * it, replaced by a new QEMU 10.0 through cpr-transfer (a cpr channel and a main channel, both unix sockets), as
 * QEMU's docs/devel/migration/CPR.rst describes. The figure is the one the issue asks for: from the old QEMU's
 * stop to the new one's run, both read from their traces (event vm_state_notify, wall-clock timestamps), beside the
 * old one's query-migrate (total time, downtime: its stop to its completion). Prints one JSON line.
 *
 * <pre>java -cp livemig-core/target/classes:livemig-core/target/test-classes dev.livemig.qemu.QemuCprTransferBench 1024</pre>
 */
public final class QemuCprTransferBench {
    private static final Pattern STATE = Pattern.compile("^\\d+@(\\d+)\\.(\\d{6}):vm_state_notify running (\\d) reason");

    private QemuCprTransferBench() {
    }

    public static void main(String[] args) throws Exception {
        long mib = Long.parseLong(args[0]);
        Path work = Files.createTempDirectory(Path.of("/dev/shm"), "livemig-qemu-cpr-");
        try {
            byte[] sector = SweeperBootSector.sweepingUpTo(SweeperBootSector.endFor(mib << 20));
            Path srcDisk = Files.write(work.resolve("src-boot.img"), sector); // one image each: QEMU locks them
            Path dstDisk = Files.write(work.resolve("dst-boot.img"), sector);
            Path srcTrace = work.resolve("src-trace.log");
            Path dstTrace = work.resolve("dst-trace.log");
            Path main = work.resolve("main.sock");
            Path cpr = work.resolve("cpr.sock");
            List<String> memory = List.of("-machine", "aux-ram-share=on", "-object", "memory-backend-memfd,id=pc.ram,size="
                    + mib + "M,share=on", "-machine", "memory-backend=pc.ram", "-msg", "timestamp=on", "-trace", "enable=vm_state_notify");
            var source = QemuOptions.paused("pc").withPaused(false).on(QemuVersion.V10_0).withMemory(mib + "M")
                    .withArgs("-drive", "file=" + srcDisk + ",format=raw,if=ide").withArgs(memory.toArray(String[]::new))
                    .withArgs("-D", srcTrace.toString()).withStartTimeout(Duration.ofSeconds(60));
            var dest = QemuOptions.incoming("pc", "unix:" + main).on(QemuVersion.V10_0).withMemory(mib + "M")
                    .withArgs("-drive", "file=" + dstDisk + ",format=raw,if=ide").withArgs(memory.toArray(String[]::new))
                    .withArgs("-D", dstTrace.toString(), "-incoming", JsonWriter.compact(channel("cpr", cpr)))
                    .withStartTimeout(Duration.ofSeconds(120));
            try (QemuProcess src = QemuProcess.start(source)) {
                QemuPostcopyBench.awaitSweeping(src);
                // the new QEMU reads its cpr channel before it opens its monitor: its start returns after the handover
                CompletableFuture<QemuProcess> started = CompletableFuture.supplyAsync(() -> {
                    try {
                        return QemuProcess.start(dest);
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                });
                long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
                while (!Files.exists(cpr) && !started.isDone() && System.nanoTime() < deadline) {
                    Thread.sleep(10);
                }
                Thread.sleep(100); // the path exists from its bind on; its listen follows a moment later
                src.qmp().execute("migrate-set-parameters", Json.object().put("mode", "cpr-transfer").build());
                src.qmp().execute("migrate", Json.object().put("channels", new Json.Arr(List.of(channel("main", main),
                        channel("cpr", cpr)))).build());
                try (QemuProcess dst = started.get(120, TimeUnit.SECONDS)) {
                    Json.Obj info = src.waitForMigration(Duration.ofMinutes(2));
                    dst.waitForMigration(Duration.ofMinutes(1));
                    boolean runs = sweepsWithin(dst, Duration.ofSeconds(10)); // a round of a TCG sweep takes a while
                    long stoppedUs = lastTransition(srcTrace, 0);
                    long runningUs = lastTransition(dstTrace, 1);
                    Json.Obj ram = info.get("ram").orElseThrow().asObject();
                    System.out.println(JsonWriter.compact(Json.object()
                            .put("tool", "qemu-" + QemuProcess.version(QemuVersion.V10_0))
                            .put("status", info.string("status"))
                            .put("ram_bytes", mib << 20)
                            .put("total_ms", info.number("total-time"))
                            .put("downtime_ms", info.number("downtime"))
                            .put("stop_to_running_ms", new Json.Num(String.format(java.util.Locale.ROOT, "%.3f", (runningUs - stoppedUs) / 1e3)))
                            .put("transferred_bytes", ram.number("transferred"))
                            .put("destination_guest_runs", runs)
                            .build()));
                }
            }
        } finally {
            QemuProcess.deleteTree(work);
        }
    }

    /** Whether the guest's sweep moves the first page's counter within {@code limit}. */
    private static boolean sweepsWithin(QemuProcess q, Duration limit) throws IOException, InterruptedException {
        byte first = q.readGuestMemory(SweeperBootSector.START, 1)[0];
        long deadline = System.nanoTime() + limit.toNanos();
        while (System.nanoTime() < deadline) {
            Thread.sleep(50);
            if (q.readGuestMemory(SweeperBootSector.START, 1)[0] != first) {
                return true;
            }
        }
        return false;
    }

    /** Wall-clock microseconds of the last vm_state_notify with {@code running} in a QEMU trace. */
    private static long lastTransition(Path trace, int running) throws IOException {
        long at = -1;
        for (String line : Files.readAllLines(trace)) {
            Matcher m = STATE.matcher(line);
            if (m.find() && Integer.parseInt(m.group(3)) == running) {
                at = Long.parseLong(m.group(1)) * 1_000_000L + Long.parseLong(m.group(2));
            }
        }
        if (at < 0) {
            throw new IOException("no vm_state_notify running " + running + " in " + trace);
        }
        return at;
    }

    private static Json channel(String type, Path path) {
        return Json.object().put("channel-type", type).put("addr", Json.object().put("transport", "socket")
                .put("type", "unix").put("path", path.toString()).build()).build();
    }
}
