package dev.livemig.savevm;

import dev.livemig.json.Json;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RamBlock;
import dev.livemig.qemu.QemuMachines;
import dev.livemig.qemu.QemuOptions;
import dev.livemig.qemu.QemuProcess;
import dev.livemig.qemu.QemuVersion;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * QEMU 10.0's mapped-ram files (format reference §17: each RAM block's pages at fixed file offsets after its
 * MEM_SIZE entry, a bitmap of the pages written) load into a livemig machine, written by QEMU's main thread
 * alone and by its multifd channels (which write the page areas directly, without packets).
 */
@Tag("qemu")
class QemuMappedRamTest {
    private static final long IMAGE_GPA = 0x100000;

    @TempDir
    Path dir;

    /** QEMU's file, from a paused guest or a running one (pages written again as it runs), single channel or multifd. */
    @ParameterizedTest(name = "multifd channels: {0}, guest running: {1}")
    @org.junit.jupiter.params.provider.CsvSource({"0, false", "2, false", "0, true", "2, true"})
    void aQemuMappedRamFileLoadsIntoALivemigMachineExactly(int channels, boolean running) throws Exception {
        byte[] image = new byte[3 << 20];
        new Random(31).nextBytes(image);
        for (int i = 0; i < image.length; i += 3 * 4096) {
            java.util.Arrays.fill(image, i, i + 4096, (byte) 0); // zero pages: bit clear, nothing in the page area
        }
        Path file = dir.resolve("mapped-ram.snap");
        byte[] low;
        byte[] high;
        try (QemuProcess qemu = QemuProcess.start(QemuOptions.paused("pc").withPaused(!running).on(QemuVersion.V10_0)
                .withImage(IMAGE_GPA, image))) {
            List<Json> caps = new ArrayList<>(List.of(Json.object().put("capability", "mapped-ram").put("state", true).build()));
            if (channels > 0) {
                caps.add(Json.object().put("capability", "multifd").put("state", true).build());
            }
            qemu.qmp().execute("migrate-set-capabilities", Json.object().put("capabilities", new Json.Arr(caps)).build());
            if (channels > 0) { // and direct-io: QEMU's channels write the page areas with O_DIRECT
                qemu.qmp().execute("migrate-set-parameters", Json.object().put("multifd-channels", channels)
                        .put("direct-io", true).build());
            }
            qemu.qmp().execute("migrate", Json.object().put("uri", "file:" + file).build());
            assertEquals("completed", qemu.waitForMigration(Duration.ofSeconds(60)).string("status"));
            // read once it is over: QEMU stays stopped (postmigrate) with the memory the file holds
            low = qemu.readGuestMemory(0, 0xa0000);
            high = qemu.readGuestMemory(IMAGE_GPA, (32 << 20) - (int) IMAGE_GPA);
        }
        assertTrue(Files.size(file) > 32 << 20, "the page areas are in the file: " + Files.size(file));
        try (Machine m = QemuMachines.shaped(QemuVersion.V10_0, "pc")) {
            RamBlock ram = m.ramBlock("pc.ram").orElseThrow();
            ram.memory().asSlice(IMAGE_GPA, image.length).fill((byte) 0x5a); // must not survive where QEMU's pages are zero
            Snapshots.load(m, file);
            assertEquals(-1, ram.memory().asSlice(0, low.length).mismatch(MemorySegment.ofArray(low)), "low memory");
            assertEquals(-1, ram.memory().asSlice(IMAGE_GPA, high.length).mismatch(MemorySegment.ofArray(high)), "the image and above");
        }

        // livemig analyze reads it too (QEMU's analyze-migration.py cannot): -x writes pc.ram as the guest had it
        Path into = Files.createDirectories(dir.resolve("x"));
        dev.livemig.analyze.StreamDump.extract(file, into, name -> { });
        byte[] extracted = Files.readAllBytes(into.resolve("pc.ram"));
        assertArrayEquals(low, java.util.Arrays.copyOfRange(extracted, 0, low.length));
        assertArrayEquals(high, java.util.Arrays.copyOfRange(extracted, (int) IMAGE_GPA, (int) IMAGE_GPA + high.length));
        long pages = dev.livemig.analyze.StreamDump.stats(file).get("ram").orElseThrow().asObject().get("pc.ram").orElseThrow()
                .asObject().number("normal-pages");
        assertTrue(pages >= image.length / 4096 * 2 / 3, "the image's non-zero pages come from the page area: " + pages);
    }

    /**
     * livemig writes mapped-ram too: as a snapshot, or migrated over QMP with capability mapped-ram to file: (as
     * libvirt saves a guest), by the migration thread or by multifd-channels writer threads with direct-io (-1: a
     * snapshot). QEMU 10.0 loads it, with multifd and direct-io when it was written so, and so does livemig.
     */
    @ParameterizedTest(name = "multifd channels: {0}")
    @ValueSource(ints = {-1, 0, 2})
    void aLivemigMappedRamFileLoadsIntoQemuAndBackIntoLivemig(int channels) throws Exception {
        Path devices = dir.resolve("devices.snap");
        try (QemuProcess qemu = QemuProcess.start(QemuOptions.paused("pc").on(QemuVersion.V10_0))) {
            qemu.saveSnapshot(devices);
        }
        byte[] image = new byte[5 << 20];
        new Random(32).nextBytes(image);
        for (int i = 0; i < image.length; i += 4 * 4096) {
            java.util.Arrays.fill(image, i, i + 2 * 4096, (byte) 0); // runs of zero pages: holes in the page area
        }
        Path file = dir.resolve("livemig-mapped.snap");
        try (Machine m = QemuMachines.shaped(QemuVersion.V10_0, "pc")) {
            Snapshots.load(m, devices);
            m.ramBlock("pc.ram").orElseThrow().memory().asSlice(IMAGE_GPA, image.length).copyFrom(MemorySegment.ofArray(image));
            m.enter(dev.livemig.machine.RunState.PRELAUNCH);
            if (channels >= 0) {
                migrateMappedRam(m, file, channels);
            } else {
                Snapshots.save(m, file, true);
            }
        }
        // the page area of pc.ram starts 1 MiB aligned, and the zero pages are not in the file
        assertTrue(Files.size(file) >= 32 << 20, "the file spans the page areas: " + Files.size(file));
        try (QemuProcess qemu = QemuProcess.start(QemuOptions.incoming("pc", "defer").on(QemuVersion.V10_0).withPaused(true))) {
            qemu.qmp().execute("migrate-set-capabilities", Json.object().put("capabilities", new Json.Arr(List.of(
                    Json.object().put("capability", "mapped-ram").put("state", true).build(),
                    Json.object().put("capability", "multifd").put("state", channels > 0).build()))).build());
            if (channels > 0) { // and direct-io: QEMU's channels read the page areas with O_DIRECT
                qemu.qmp().execute("migrate-set-parameters", Json.object().put("multifd-channels", channels)
                        .put("direct-io", true).build());
            }
            qemu.qmp().execute("migrate-incoming", Json.object().put("uri", "file:" + file).build());
            assertEquals("completed", qemu.waitForMigration(Duration.ofSeconds(60)).string("status"));
            assertArrayEquals(image, qemu.readGuestMemory(IMAGE_GPA, image.length), "QEMU holds livemig's RAM");
        }
        try (Machine back = QemuMachines.shaped(QemuVersion.V10_0, "pc")) {
            back.ramBlock("pc.ram").orElseThrow().memory().asSlice(IMAGE_GPA, image.length).fill((byte) 0x33);
            Snapshots.load(back, file);
            assertEquals(-1, back.ramBlock("pc.ram").orElseThrow().memory().asSlice(IMAGE_GPA, image.length)
                    .mismatch(MemorySegment.ofArray(image)), "livemig reads its own mapped-ram file");
        }
    }

    /** QEMU 10.0's way: capability mapped-ram, then migrate to file:, over livemig's QMP in the 10.0 dialect. */
    private void migrateMappedRam(Machine m, Path file, int channels) throws Exception {
        Path socket = dir.resolve("qmp.sock");
        try (var server = dev.livemig.qmp.QmpServer.builder(m).unix(socket).start();
             var qmp = dev.livemig.qmp.QmpClient.connect(socket, Duration.ofSeconds(20))) {
            assertEquals(new Json.Num("10"), qmp.greeting().get("QMP").orElseThrow().asObject().get("version").orElseThrow()
                    .asObject().get("qemu").orElseThrow().asObject().get("major").orElseThrow(), "a 10.0 machine type answers as 10.0");
            qmp.execute("migrate-set-capabilities", Json.object().put("capabilities", new Json.Arr(List.of(
                    Json.object().put("capability", "mapped-ram").put("state", true).build()))).build());
            if (channels > 0) {
                qmp.execute("migrate-set-capabilities", Json.object().put("capabilities", new Json.Arr(List.of(
                        Json.object().put("capability", "multifd").put("state", true).build()))).build());
                qmp.execute("migrate-set-parameters", Json.object().put("multifd-channels", channels)
                        .put("direct-io", true).build()); // livemig's writers write with O_DIRECT
            }
            var refused = assertThrows(dev.livemig.qmp.QmpError.class,
                    () -> qmp.execute("migrate", Json.object().put("uri", "tcp:127.0.0.1:1").build()));
            assertEquals("Migration requires seekable transport (e.g. file)", refused.desc(), "QEMU's text");
            qmp.execute("migrate", Json.object().put("uri", "file:" + file).build());
            dev.livemig.testing.Await.until("the migration to " + file + " to complete", () -> {
                Json.Obj info = qmp.execute("query-migrate").asObject();
                assertNotEquals("failed", info.string("status"), () -> "migration failed: " + info);
                return info.string("status").equals("completed");
            }, null, Duration.ofSeconds(60));
        }
    }
}
