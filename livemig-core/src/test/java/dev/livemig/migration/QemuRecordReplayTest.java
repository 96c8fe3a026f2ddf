package dev.livemig.migration;

import dev.livemig.json.Json;
import dev.livemig.machine.Machine;
import dev.livemig.qemu.QemuOptions;
import dev.livemig.qemu.QemuProcess;
import dev.livemig.qemu.QemuVersion;
import dev.livemig.savevm.Snapshots;
import dev.livemig.transport.MigrationUri;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * QEMU 7.2 → livemig record → livemig replay → QEMU 7.2, with guest memory compared byte for byte at both
 * ends: the recording destination takes QEMU's live migration (one channel, or multifd over two channels
 * with each compression), the file it writes holds the source's RAM and loads into QEMU itself, and
 * replaying it into a fresh
 * {@code -incoming defer} QEMU (plain, or multifd) leaves that QEMU with the same memory.
 */
@Tag("qemu")
class QemuRecordReplayTest {
    private static final String MEMORY = "32M";
    private static final int RAM_BYTES = 32 << 20;
    private static final long IMAGE_AT = 0x100000;

    @TempDir
    Path dir;

    /** From and into 10.0 the recording keeps 10.0's machine type, so the replay speaks 10.0's dialect. */
    @ParameterizedTest(name = "{0} {1}: record {2}, replay {3}")
    @CsvSource({"V7_2, pc, single, single", "V7_2, q35, single, single", "V7_2, pc, none, zstd", "V7_2, q35, zlib, single",
            "V7_2, pc, zstd, none",
            "V10_0, pc, single, single", "V10_0, q35, single, single", "V10_0, pc, none, zstd", "V10_0, q35, zlib, single",
            "V10_0, pc, zstd, none"})
    void aQemuGuestRecordedAndReplayedArrivesIdentical(QemuVersion version, String machine, String recordWith, String replayWith)
            throws Exception {
        byte[] image = new byte[1 << 20];
        new Random(machine.hashCode() + recordWith.hashCode()).nextBytes(image);
        Path file = dir.resolve("recorded.snap");
        byte[] low;
        byte[] high;
        try (QemuProcess source = QemuProcess.start(QemuOptions.paused(machine).on(version).withMemory(MEMORY).withImage(IMAGE_AT, image))) {
            low = source.readGuestMemory(0, 0xa0000);
            high = source.readGuestMemory(IMAGE_AT, RAM_BYTES - (int) IMAGE_AT);
            var recorder = new StreamRecorder(config(recordWith));
            MigrationUri at = recorder.listen(MigrationUri.parse("tcp:127.0.0.1:0"));
            var recorded = CompletableFuture.supplyAsync(() -> {
                try {
                    return recorder.record(file);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            setMultifd(source, recordWith);
            source.qmp().execute("migrate-set-parameters", Json.object().put("max-bandwidth", 1L << 30).build());
            source.qmp().execute("migrate", Json.object().put("uri", at.toString()).build());
            source.waitForMigration(Duration.ofSeconds(60));
            var result = recorded.get(60, TimeUnit.SECONDS);
            assertEquals(version.machineType(machine), result.machineType());
            assertTrue(result.nonZeroPages() >= image.length / 4096, "the image's pages hold data: " + result);
        }
        assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
                java.nio.file.Files.getPosixFilePermissions(file)), "a recording holds guest memory: the owner's only");
        try (Machine m = Snapshots.shape(file).machine()) {
            Snapshots.load(m, file);
            var ram = m.ramBlock("pc.ram").orElseThrow().memory();
            assertArrayEquals(low, ram.asSlice(0, low.length).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), "recorded low RAM");
            assertArrayEquals(high, ram.asSlice(IMAGE_AT, high.length).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), "recorded RAM");
        }

        // the recording is a stream QEMU itself loads
        try (QemuProcess loaded = QemuProcess.start(QemuOptions.incoming(machine, "exec:cat '" + file + "'").on(version)
                .withPaused(true).withMemory(MEMORY))) {
            loaded.waitForMigration(Duration.ofSeconds(30));
            assertArrayEquals(high, loaded.readGuestMemory(IMAGE_AT, high.length), "the recording loaded by QEMU");
        }

        try (QemuProcess destination = QemuProcess.start(QemuOptions.incoming(machine, "defer").on(version).withPaused(true).withMemory(MEMORY));
             Machine m = Snapshots.shape(file).machine()) {
            m.enter(Snapshots.load(m, file).sourceRunState());
            setMultifd(destination, replayWith);
            int port;
            try (var s = new java.net.ServerSocket(0)) {
                port = s.getLocalPort();
            }
            destination.qmp().execute("migrate-incoming", Json.object().put("uri", "tcp:127.0.0.1:" + port).build());
            var migration = new Migration(m, config(replayWith).withParameter("max-bandwidth", Long.toString(1L << 30)), e -> { });
            migration.start(MigrationUri.parse("tcp:127.0.0.1:" + port));
            assertEquals(MigrationStatus.COMPLETED, migration.awaitFinished(60, TimeUnit.SECONDS),
                    migration.info().toJson() + "\n" + destination.logTail());
            destination.waitForMigration(Duration.ofSeconds(30));
            assertArrayEquals(low, destination.readGuestMemory(0, low.length), "replayed low RAM");
            assertArrayEquals(high, destination.readGuestMemory(IMAGE_AT, high.length), "replayed RAM");
            if (!replayWith.equals("single")) {
                assertTrue(migration.info().ram().multifdBytes() > image.length, "pages went over multifd channels");
            }
        }
    }

    private static MigrationConfig config(String mode) throws Exception {
        if (mode.equals("single")) {
            return MigrationConfig.defaults();
        }
        return new MigrationConfig(Set.of(MigrationCapability.MULTIFD), 300, MigrationConfig.DEFAULT_MAX_BANDWIDTH)
                .withParameter("multifd-channels", "2").withParameter("multifd-compression", mode);
    }

    private static void setMultifd(QemuProcess qemu, String mode) throws Exception {
        if (mode.equals("single")) {
            return;
        }
        List<Json> caps = new ArrayList<>(List.of(Json.object().put("capability", "multifd").put("state", true).build()));
        qemu.qmp().execute("migrate-set-capabilities", Json.object().put("capabilities", new Json.Arr(caps)).build());
        qemu.qmp().execute("migrate-set-parameters", Json.object().put("multifd-channels", 2)
                .put("multifd-compression", mode).build());
    }
}
