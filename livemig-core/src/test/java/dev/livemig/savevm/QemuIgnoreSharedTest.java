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
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Capability x-ignore-shared (format reference §7.4, §16.1): guest RAM in a shared file stays where it is; the
 * stream lists the block, with its region address, but carries none of its pages, and the destination maps the same
 * file — QEMU's cpr-reboot with RAM kept in /dev/shm (with parameter mode cpr-reboot on 10.0, which has it). Both ways
 * between QEMU and livemig, through file: (exec:cat on 7.2).
 */
@Tag("qemu")
class QemuIgnoreSharedTest {
    private static final long IMAGE_GPA = 0x100000;

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void aQemuStreamKeepsItsSharedRamInPlaceAndLivemigLoadsItOverTheSameFile(QemuVersion qemu) throws Exception {
        byte[] image = image(41);
        Path memory = dir.resolve("pc.ram");
        Path stream = dir.resolve("ignore-shared.snap");
        byte[] guest;
        try (QemuProcess q = QemuProcess.start(QemuOptions.paused("pc").on(qemu).withImage(IMAGE_GPA, image)
                .withArgs(QemuMachines.sharedPcRamArgs(memory)))) {
            q.qmp().execute("migrate-set-capabilities", capability("x-ignore-shared"));
            if (qemu == QemuVersion.V10_0) { // as QEMU's cpr-reboot: the guest stops first, one pass
                q.qmp().execute("migrate-set-parameters", Json.object().put("mode", "cpr-reboot").build());
            }
            q.qmp().execute("migrate", Json.object().put("uri", writing(qemu, stream)).build());
            assertEquals("completed", q.waitForMigration(Duration.ofSeconds(60)).string("status"));
            guest = q.readGuestMemory(IMAGE_GPA, image.length);
        }
        assertArrayEquals(image, guest, "QEMU's guest had the image");
        assertTrue(Files.size(stream) < 1 << 20, "32 MiB of pc.ram are not in the stream: " + Files.size(stream));

        // analyze reads the addresses in the block list: pc.ram listed, no page of it; the ROMs' pages are there
        Json.Obj ram = dev.livemig.analyze.StreamDump.stats(stream).get("ram").orElseThrow().asObject();
        assertEquals(0, ram.get("pc.ram").map(b -> b.asObject().number("normal-pages")).orElse(0L), ram.toString());
        assertTrue(ram.get("pc.bios").orElseThrow().asObject().number("normal-pages") > 0, ram.toString());
        assertDoesNotThrow(() -> dev.livemig.analyze.StreamDump.state(stream, false), "analyze --verify reads it through");

        try (Arena arena = Arena.ofConfined(); Machine m = QemuMachines.sharedPcRam(qemu, arena, memory)) {
            var refused = assertThrows(dev.livemig.wire.MigrationException.class, () -> Snapshots.load(m, stream));
            assertTrue(refused.getMessage().contains("capability x-ignore-shared differs: source=on destination=off"), refused.getMessage());
            StandardSections.of(m).ram().ignoreShared(true);
            Snapshots.load(m, stream);
            RamBlock pcRam = m.ramBlock("pc.ram").orElseThrow();
            assertEquals(-1, pcRam.memory().asSlice(IMAGE_GPA, image.length).mismatch(MemorySegment.ofArray(image)),
                    "the shared file holds the guest's RAM");
            MemorySegment resetVector = m.ramBlock("pc.bios").orElseThrow().memory().asSlice(0x40000 - 16, 16);
            assertNotEquals(-1, resetVector.mismatch(MemorySegment.ofArray(new byte[16])), "the BIOS came in the stream");
        }
    }

    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void aLivemigStreamKeepsItsSharedRamInPlaceAndQemuLoadsItOverTheSameFile(QemuVersion qemu) throws Exception {
        Path devices = dir.resolve("devices.snap");
        try (QemuProcess q = QemuProcess.start(QemuOptions.paused("pc").on(qemu))) {
            q.saveSnapshot(devices);
        }
        byte[] image = image(42);
        Path memory = dir.resolve("pc.ram");
        Path stream = dir.resolve("livemig-ignore-shared.snap");
        try (Arena arena = Arena.ofConfined(); Machine m = QemuMachines.sharedPcRam(qemu, arena, memory)) {
            Snapshots.load(m, devices);
            m.ramBlock("pc.ram").orElseThrow().memory().asSlice(IMAGE_GPA, image.length).copyFrom(MemorySegment.ofArray(image));
            m.enter(dev.livemig.machine.RunState.PRELAUNCH);
            migrateIgnoringShared(m, stream, qemu);
        }
        assertTrue(Files.size(stream) < 1 << 20, "32 MiB of pc.ram are not in the stream: " + Files.size(stream));
        try (QemuProcess q = QemuProcess.start(QemuOptions.incoming("pc", "defer").on(qemu).withPaused(true)
                .withArgs(QemuMachines.sharedPcRamArgs(memory)))) {
            q.qmp().execute("migrate-set-capabilities", capability("x-ignore-shared"));
            q.qmp().execute("migrate-incoming", Json.object().put("uri", reading(qemu, stream)).build());
            assertEquals("completed", q.waitForMigration(Duration.ofSeconds(60)).string("status"));
            assertArrayEquals(image, q.readGuestMemory(IMAGE_GPA, image.length), "QEMU maps the file livemig's guest wrote");
        }
    }

    private void migrateIgnoringShared(Machine m, Path stream, QemuVersion qemu) throws Exception {
        Path socket = dir.resolve("qmp.sock");
        try (var server = dev.livemig.qmp.QmpServer.builder(m).unix(socket).start();
             var qmp = dev.livemig.qmp.QmpClient.connect(socket, Duration.ofSeconds(20))) {
            qmp.execute("migrate-set-capabilities", capability("x-ignore-shared"));
            if (qemu == QemuVersion.V10_0) { // a 10.0 machine type's QMP has parameter mode
                qmp.execute("migrate-set-parameters", Json.object().put("mode", "cpr-reboot").build());
            }
            qmp.execute("migrate", Json.object().put("uri", "file:" + stream).build());
            dev.livemig.testing.Await.until("the migration to " + stream + " to complete", () -> {
                Json.Obj info = qmp.execute("query-migrate").asObject();
                assertNotEquals("failed", info.string("status"), () -> "migration failed: " + info);
                return info.string("status").equals("completed");
            }, null, Duration.ofSeconds(60));
        }
    }

    /** file: came with QEMU 8.2; 7.2 writes and reads the same bytes through a shell. */
    private static String writing(QemuVersion qemu, Path stream) {
        return qemu == QemuVersion.V7_2 ? "exec:cat > " + stream : "file:" + stream;
    }

    private static String reading(QemuVersion qemu, Path stream) {
        return qemu == QemuVersion.V7_2 ? "exec:cat " + stream : "file:" + stream;
    }

    private static Json.Obj capability(String name) {
        return Json.object().put("capabilities", new Json.Arr(List.of(Json.object().put("capability", name).put("state", true).build()))).build();
    }

    private static byte[] image(long seed) {
        byte[] image = new byte[2 << 20];
        new Random(seed).nextBytes(image);
        return image;
    }
}
