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
import java.util.SplittableRandom;

/**
 * QEMU 7.2's side of {@code livemig bench precopy}: two qemu-system-x86_64 processes (pc, TCG, paused), the
 * source's RAM filled through a loader image, migrated over loopback tcp with max-bandwidth 100 GiB/s and
 * downtime-limit 300 ms. Prints one JSON line with QEMU's own total-time and downtime.
 *
 * <pre>java -cp livemig-core/target/classes:livemig-core/target/test-classes dev.livemig.qemu.QemuPrecopyBench 1024 random</pre>
 */
public final class QemuPrecopyBench {
    private QemuPrecopyBench() {
    }

    public static void main(String[] args) throws Exception {
        long mib = Long.parseLong(args[0]);
        String content = args.length > 1 ? args[1] : "random";
        Path image = Path.of("/dev/shm", "livemig-qemu-bench-" + ProcessHandle.current().pid() + ".img");
        try {
            var source = QemuOptions.paused("pc").withMemory(mib + "M");
            if (!content.equals("zero")) {
                writeImage(image, (mib << 20) - 0x100000, content.equals("half"));
                source = source.withArgs("-device", "loader,file=" + image + ",addr=0x100000,force-raw=on");
            }
            int port;
            try (ServerSocket s = new ServerSocket(0)) {
                port = s.getLocalPort();
            }
            var destOptions = QemuOptions.incoming("pc", "tcp:127.0.0.1:" + port).withMemory(mib + "M")
                    .withStartTimeout(Duration.ofSeconds(60));
            try (QemuProcess dst = QemuProcess.start(destOptions);
                 QemuProcess src = QemuProcess.start(source.withStartTimeout(Duration.ofSeconds(60)))) {
                src.qmp().execute("migrate-set-parameters", Json.object().put("max-bandwidth", 100L << 30)
                        .put("downtime-limit", 300).build());
                src.qmp().execute("migrate", Json.object().put("uri", "tcp:127.0.0.1:" + port).build());
                Json.Obj info = src.waitForMigration(Duration.ofMinutes(10));
                dst.waitForMigration(Duration.ofMinutes(1));
                long total = info.number("total-time");
                Json.Obj ram = info.get("ram").orElseThrow().asObject();
                System.out.println(JsonWriter.compact(Json.object()
                        .put("tool", "qemu-" + QemuProcess.version())
                        .put("status", info.string("status"))
                        .put("ram_bytes", mib << 20)
                        .put("content", content)
                        .put("transport", "tcp")
                        .put("total_ms", total)
                        .put("downtime_ms", info.number("downtime"))
                        .put("setup_ms", info.number("setup-time"))
                        .put("throughput_mib_s", (long) (mib / Math.max(total / 1000.0, 0.001)))
                        .put("transferred_bytes", ram.number("transferred"))
                        .build()));
            }
        } finally {
            Files.deleteIfExists(image);
        }
    }

    private static void writeImage(Path file, long bytes, boolean half) throws IOException {
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
}
