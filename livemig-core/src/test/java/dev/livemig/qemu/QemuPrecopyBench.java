package dev.livemig.qemu;

import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.SplittableRandom;

/**
 * QEMU 7.2's side of {@code livemig bench precopy}: two qemu-system-x86_64 processes (pc, TCG, paused), the
 * source's RAM filled through a loader image, migrated over loopback tcp with max-bandwidth 100 GiB/s and
 * downtime-limit 300 ms. Prints one JSON line with QEMU's own total-time and downtime. With a channel count
 * (and a multifd-compression, and "zero-copy"), both ends use multifd: the destination starts with
 * {@code -incoming defer} and gets the same capabilities and parameters before migrate-incoming.
 *
 * <pre>java -cp livemig-core/target/classes:livemig-core/target/test-classes dev.livemig.qemu.QemuPrecopyBench 1024 random [CHANNELS [none|zlib|zstd [zero-copy]]]</pre>
 * {@code -Dlivemig.qemu=10.0} runs QEMU 10.0 (scripts/install-qemu10.sh) instead of the system's 7.2.
 * {@code -Dlivemig.tls.dir=DIR} runs every channel over TLS with the x509 credentials in DIR (both endpoints' files).
 */
public final class QemuPrecopyBench {
    private QemuPrecopyBench() {
    }

    public static void main(String[] args) throws Exception {
        long mib = Long.parseLong(args[0]);
        String content = args.length > 1 ? args[1] : "random";
        int channels = args.length > 2 ? Integer.parseInt(args[2]) : 0;
        String compression = args.length > 3 ? args[3] : "none";
        boolean zeroCopy = args.length > 4 && args[4].equals("zero-copy");
        String wanted = System.getProperty("livemig.qemu", QemuVersion.V7_2.label());
        QemuVersion version = java.util.Arrays.stream(QemuVersion.values()).filter(v -> v.label().equals(wanted)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("livemig.qemu must be 7.2 or 10.0: " + wanted));
        String tlsDir = System.getProperty("livemig.tls.dir");
        var images = new java.util.LinkedHashMap<Long, Path>(); // one image file per piece size
        try {
            var source = QemuOptions.paused("pc").on(version).withMemory(mib + "M");
            if (!content.equals("zero")) {
                for (long[] piece : pieces(mib << 20)) {
                    Path image = images.get(piece[1]);
                    if (image == null) {
                        image = Path.of("/dev/shm", "livemig-qemu-bench-" + ProcessHandle.current().pid() + "-" + images.size() + ".img");
                        writeImage(image, piece[1], content.equals("half"));
                        images.put(piece[1], image);
                    }
                    source = source.withArgs("-device", "loader,file=" + image + ",addr=0x" + Long.toHexString(piece[0]) + ",force-raw=on");
                }
            }
            int port;
            try (ServerSocket s = new ServerSocket(0)) {
                port = s.getLocalPort();
            }
            var destOptions = QemuOptions.incoming("pc", channels > 0 || tlsDir != null ? "defer" : "tcp:127.0.0.1:" + port)
                    .on(version).withMemory(mib + "M").withStartTimeout(Duration.ofSeconds(60));
            if (tlsDir != null) {
                destOptions = destOptions.withArgs("-object", "tls-creds-x509,id=tls0,dir=" + tlsDir + ",endpoint=server");
                source = source.withArgs("-object", "tls-creds-x509,id=tls0,dir=" + tlsDir + ",endpoint=client");
            }
            try (QemuProcess dst = QemuProcess.start(destOptions);
                 QemuProcess src = QemuProcess.start(source.withStartTimeout(Duration.ofSeconds(60)))) {
                src.qmp().execute("migrate-set-parameters", Json.object().put("max-bandwidth", 100L << 30)
                        .put("downtime-limit", 300).build());
                if (channels > 0) {
                    for (QemuProcess q : List.of(dst, src)) {
                        var caps = new java.util.ArrayList<Json>(List.of(Json.object().put("capability", "multifd").put("state", true).build()));
                        if (zeroCopy && q == src) {
                            caps.add(Json.object().put("capability", "zero-copy-send").put("state", true).build());
                        }
                        q.qmp().execute("migrate-set-capabilities", Json.object().put("capabilities", new Json.Arr(caps)).build());
                        q.qmp().execute("migrate-set-parameters", Json.object().put("multifd-channels", channels)
                                .put("multifd-compression", compression).build());
                    }
                }
                if (tlsDir != null) {
                    for (QemuProcess q : List.of(dst, src)) {
                        q.qmp().execute("migrate-set-parameters", Json.object().put("tls-creds", "tls0").build());
                    }
                }
                if (channels > 0 || tlsDir != null) {
                    dst.qmp().execute("migrate-incoming", Json.object().put("uri", "tcp:127.0.0.1:" + port).build());
                }
                long srcCpu = cpuMillis(src.pid());
                long dstCpu = cpuMillis(dst.pid());
                src.qmp().execute("migrate", Json.object().put("uri", "tcp:127.0.0.1:" + port).build());
                Json.Obj info = src.waitForMigration(Duration.ofMinutes(10));
                dst.waitForMigration(Duration.ofMinutes(1));
                srcCpu = cpuMillis(src.pid()) - srcCpu;
                dstCpu = cpuMillis(dst.pid()) - dstCpu;
                long total = info.number("total-time");
                Json.Obj ram = info.get("ram").orElseThrow().asObject();
                System.out.println(JsonWriter.compact(Json.object()
                        .put("tool", "qemu-" + QemuProcess.version(version))
                        .put("status", info.string("status"))
                        .put("ram_bytes", mib << 20)
                        .put("content", content)
                        .put("transport", "tcp")
                        .put("multifd_channels", channels)
                        .put("multifd_compression", channels > 0 ? compression : "-")
                        .put("zero_copy_send", zeroCopy)
                        .put("tls", tlsDir != null)
                        .put("total_ms", total)
                        .put("downtime_ms", info.number("downtime"))
                        .put("setup_ms", info.number("setup-time"))
                        .put("throughput_mib_s", (long) (mib / Math.max(total / 1000.0, 0.001)))
                        .put("transferred_bytes", ram.number("transferred"))
                        .put("source_cpu_ms", srcCpu)
                        .put("source_peak_rss_bytes", peakRss(src.pid()))
                        .put("destination", Json.object().put("peak_rss_bytes", peakRss(dst.pid())).put("cpu_ms", dstCpu).build())
                        .build()));
            }
        } finally {
            for (Path image : images.values()) {
                Files.deleteIfExists(image);
            }
        }
    }

    /**
     * Guest-physical pieces {gpa, length} covering pc.ram above 1 MiB, at most 1 GiB each (QEMU's loader reads
     * an image in one call, which fails past 2 GiB). Like the pc machine: with more than 3.5 GiB, 3 GiB stay
     * below 4 GiB and the rest starts at 4 GiB.
     */
    static List<long[]> pieces(long ram) {
        long low = ram > 0xe0000000L ? 0xc0000000L : ram;
        var out = new java.util.ArrayList<long[]>();
        for (long at = 0x100000; at < low; ) {
            long len = Math.min(low - at, (1L << 30) - (at % (1L << 30)));
            out.add(new long[] {at, len});
            at += len;
        }
        for (long at = 1L << 32; at < (1L << 32) + (ram - low); at += 1L << 30) {
            out.add(new long[] {at, Math.min(1L << 30, (1L << 32) + (ram - low) - at)});
        }
        return out;
    }

    static void writeImage(Path file, long bytes, boolean half) throws IOException {
        var rnd = new SplittableRandom(42);
        ByteBuffer page = ByteBuffer.allocateDirect(1 << 20);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            long pageNo = 0;
            for (long done = 0; done < bytes; done += page.capacity()) {
                page.clear();
                while (page.hasRemaining()) {
                    boolean zero = half && (pageNo++ & 1) == 1;
                    for (int i = 0; i < 4096; i += 8) {
                        page.putLong(zero ? 0 : rnd.nextLong());
                    }
                }
                page.flip();
                page.limit((int) Math.min(page.capacity(), bytes - done));
                while (page.hasRemaining()) {
                    ch.write(page);
                }
            }
        }
    }

    /** The CPU time a process has used (utime + stime of /proc/PID/stat), in milliseconds; USER_HZ is 100 on Linux. */
    static long cpuMillis(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" "); // field 3 onwards: the name may hold spaces
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 10;
    }

    /** A process's peak resident set (VmHWM), as livemig's bench reports its own: guest RAM and all the rest. */
    private static long peakRss(long pid) throws java.io.IOException {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
            if (line.startsWith("VmHWM:")) {
                return Long.parseLong(line.substring("VmHWM:".length()).trim().split("\\s+")[0]) * 1024;
            }
        }
        throw new java.io.IOException("no VmHWM in /proc/" + pid + "/status");
    }
}
