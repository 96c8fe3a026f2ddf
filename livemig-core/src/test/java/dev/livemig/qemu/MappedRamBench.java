package dev.livemig.qemu;

import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RamBlock;
import dev.livemig.machine.RunState;
import dev.livemig.migration.Migration;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.savevm.Snapshots;
import dev.livemig.transport.MigrationUri;

import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.SplittableRandom;

/**
 * mapped-ram save and restore of a paused guest to a file in /dev/shm, QEMU 10.0 beside livemig, alternating:
 * QEMU (pc, TCG, {@code -m SIZE}, its RAM filled through loader images) saves with capability mapped-ram and
 * {@code migrate file:} (its own total-time; max-bandwidth 100 GiB/s) and a fresh QEMU restores with {@code migrate-incoming file:}
 * (wall time to completed); livemig saves a machine of the same RAM with {@code Snapshots.save(m, file, true)}
 * and loads it into a fresh machine (wall times). Random content, every page non-zero. One JSON line per step.
 * A third argument N > 0 gives both multifd with N channels: QEMU's write and read the page areas, livemig's save
 * goes through the migration engine with N writer threads (its restore stays one thread).
 *
 * <pre>java -cp livemig-core/target/classes:livemig-core/target/test-classes dev.livemig.qemu.MappedRamBench 4096 3 [N]</pre>
 */
public final class MappedRamBench {
    private MappedRamBench() {
    }

    public static void main(String[] args) throws Exception {
        long mib = Long.parseLong(args[0]);
        int runs = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        int channels = args.length > 2 ? Integer.parseInt(args[2]) : 0; // multifd channels; 0: one
        Path file = Path.of("/dev/shm", "livemig-mapped-ram-bench-" + ProcessHandle.current().pid() + ".snap");
        var images = new java.util.LinkedHashMap<Long, Path>(); // one loader image per piece size, as the precopy bench
        try {
            for (long[] piece : QemuPrecopyBench.pieces(mib << 20)) {
                if (!images.containsKey(piece[1])) {
                    Path image = Path.of("/dev/shm", "livemig-mapped-ram-bench-" + ProcessHandle.current().pid() + "-" + images.size() + ".img");
                    QemuPrecopyBench.writeImage(image, piece[1], false);
                    images.put(piece[1], image);
                }
            }
            for (int run = 0; run < runs; run++) {
                qemu(mib, images, file, channels);
                Files.deleteIfExists(file);
                livemig(mib, file, channels);
                Files.deleteIfExists(file);
            }
        } finally {
            Files.deleteIfExists(file);
            for (Path image : images.values()) {
                Files.deleteIfExists(image);
            }
        }
    }

    private static void qemu(long mib, java.util.Map<Long, Path> images, Path file, int channels) throws Exception {
        var source = QemuOptions.paused("pc").on(QemuVersion.V10_0).withMemory(mib + "M").withStartTimeout(Duration.ofSeconds(60));
        for (long[] piece : QemuPrecopyBench.pieces(mib << 20)) {
            source = source.withArgs("-device", "loader,file=" + images.get(piece[1]) + ",addr=0x" + Long.toHexString(piece[0])
                    + ",force-raw=on");
        }
        Json.Obj caps = Json.object().put("capabilities", new Json.Arr(List.of(
                Json.object().put("capability", "mapped-ram").put("state", true).build(),
                Json.object().put("capability", "multifd").put("state", channels > 0).build()))).build();
        Json.Obj channelCount = Json.object().put("multifd-channels", Math.max(channels, 1)).build();
        long saveMs;
        try (QemuProcess src = QemuProcess.start(source)) {
            src.qmp().execute("migrate-set-capabilities", caps);
            src.qmp().execute("migrate-set-parameters", channelCount);
            // unlimited, as in the other benchmarks: QEMU's default of 128 MiB/s would be all it measured
            src.qmp().execute("migrate-set-parameters", Json.object().put("max-bandwidth", 100L << 30).build());
            src.qmp().execute("migrate", Json.object().put("uri", "file:" + file).build());
            saveMs = src.waitForMigration(Duration.ofMinutes(10)).number("total-time");
        }
        long restoreMs;
        try (QemuProcess dst = QemuProcess.start(QemuOptions.incoming("pc", "defer").on(QemuVersion.V10_0)
                .withMemory(mib + "M").withPaused(true).withStartTimeout(Duration.ofSeconds(60)))) {
            dst.qmp().execute("migrate-set-capabilities", caps);
            dst.qmp().execute("migrate-set-parameters", channelCount);
            long t0 = System.nanoTime();
            dst.qmp().execute("migrate-incoming", Json.object().put("uri", "file:" + file).build());
            dst.waitForMigration(Duration.ofMinutes(10));
            restoreMs = (System.nanoTime() - t0) / 1_000_000;
        }
        print("qemu-" + QemuProcess.version(QemuVersion.V10_0), mib, channels, saveMs, restoreMs, Files.size(file));
    }

    private static void livemig(long mib, Path file, int channels) throws Exception {
        long saveMs;
        try (Machine m = Machine.builder("pc-i440fx-10.0").ram("pc.ram", mib << 20).build()) {
            RamBlock ram = m.ramBlocks().getFirst();
            var rnd = new SplittableRandom(42);
            for (long off = 0; off < ram.usedLength(); off += 8) {
                ram.memory().set(ValueLayout.JAVA_LONG_UNALIGNED, off, rnd.nextLong());
            }
            m.enter(RunState.PRELAUNCH);
            long t0 = System.nanoTime();
            if (channels == 0) {
                Snapshots.save(m, file, true);
            } else { // the migration engine, multifd channels writing the page areas
                var config = new MigrationConfig(java.util.Set.of(dev.livemig.migration.MigrationCapability.MAPPED_RAM, dev.livemig.migration.MigrationCapability.MULTIFD), 300, 0)
                        .withParameter("multifd-channels", Integer.toString(channels));
                var migration = dev.livemig.testing.Controllers.migrate(m, config, MigrationUri.parse("file:" + file));
                if (migration.awaitFinished(10, java.util.concurrent.TimeUnit.MINUTES) != MigrationStatus.COMPLETED) {
                    throw new IllegalStateException("livemig's save failed: " + migration.info().toJson());
                }
            }
            saveMs = (System.nanoTime() - t0) / 1_000_000;
        }
        long restoreMs;
        try (Machine m = Machine.builder("pc-i440fx-10.0").ram("pc.ram", mib << 20).build()) {
            long t0 = System.nanoTime();
            Snapshots.load(m, file);
            restoreMs = (System.nanoTime() - t0) / 1_000_000;
        }
        print("livemig", mib, channels, saveMs, restoreMs, Files.size(file));
    }

    private static void print(String tool, long mib, int channels, long saveMs, long restoreMs, long fileBytes) {
        System.out.println(JsonWriter.compact(Json.object().put("tool", tool).put("ram_bytes", mib << 20).put("multifd_channels", channels)
                .put("layout", "mapped-ram").put("save_ms", saveMs).put("restore_ms", restoreMs)
                .put("file_bytes", fileBytes).build()));
    }
}
