package dev.livemig.savevm;

import dev.livemig.machine.Machine;
import dev.livemig.machine.RamBlock;
import dev.livemig.machine.Registration;
import dev.livemig.machine.RunState;
import dev.livemig.qemu.QemuMachines;
import dev.livemig.qemu.QemuVersion;
import dev.livemig.qemu.QemuOptions;
import dev.livemig.qemu.QemuProcess;
import dev.livemig.qemu.QemuSnapshot;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Byte compatibility of whole-machine snapshots with Debian's QEMU 7.2 (issue: foundation, (a) and (b)).
 * QEMU's guests are -m 32M with -nodefaults (docs/qemu-7.2-notes.md); guest RAM is given content at boot
 * with a loader image so that comparisons are not of zero pages only.
 */
@Tag("qemu")
class QemuSnapshotInteropTest {
    private static final long IMAGE_GPA = 0x100000;
    private static final Duration LOAD_TIMEOUT = Duration.ofSeconds(30);

    @TempDir
    Path dir;

    static Machine qemuShaped(String machine) {
        return QemuMachines.shaped(machine);
    }

    /** Both QEMU builds, both machine types. */
    static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> versionsAndMachines() {
        return java.util.Arrays.stream(QemuVersion.values()).flatMap(v -> java.util.stream.Stream.of("pc", "q35")
                .map(m -> org.junit.jupiter.params.provider.Arguments.of(v, m)));
    }

    private static byte[] randomBytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static byte[] bytes(RamBlock block, long offset, int length) {
        return block.memory().asSlice(offset, length).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
    }

    private Path qemuSnapshot(String machine, byte[] image) throws Exception {
        return qemuSnapshot(QemuVersion.V7_2, machine, image);
    }

    private Path qemuSnapshot(QemuVersion version, String machine, byte[] image) throws Exception {
        Path file = dir.resolve("qemu-" + version.label() + "-" + machine + ".snap");
        try (QemuProcess qemu = QemuProcess.start(QemuOptions.paused(machine).on(version).withImage(IMAGE_GPA, image))) {
            qemu.saveSnapshot(file);
        }
        return file;
    }

    /** 10.0's snapshot files carry SWITCHOVER_START before the final sections. */
    @ParameterizedTest(name = "{0} {1}")
    @org.junit.jupiter.params.provider.MethodSource("versionsAndMachines")
    void qemuSnapshotLoadsIntoALivemigMachineExactly(QemuVersion version, String machine) throws Exception {
        byte[] image = randomBytes(256 << 10, 1);
        Path file = qemuSnapshot(version, machine, image);
        QemuSnapshot reference = QemuSnapshot.parse(Files.readAllBytes(file));

        try (Machine m = QemuMachines.shaped(version, machine)) {
            LoadVm.Result result = Snapshots.load(m, file);
            assertEquals(RunState.PRELAUNCH, result.sourceRunState(), "a -S guest is in prelaunch");
            for (RamBlock block : m.ramBlocks()) {
                byte[] expected = reference.ram().get(block.name());
                assertNotNull(expected, block.name());
                assertEquals(-1, block.memory().mismatch(MemorySegment.ofArray(expected)), "block " + block.name());
            }
            assertArrayEquals(image, bytes(m.ramBlock("pc.ram").orElseThrow(), IMAGE_GPA, image.length));

            // every device section of QEMU's stream was consumed exactly and is kept, opaque, with its bytes
            Map<String, Registration> byKey = new java.util.HashMap<>();
            for (Registration r : m.devices().snapshot()) {
                byKey.put(r.idstr() + "#" + r.instanceId(), r);
            }
            for (QemuSnapshot.DeviceSection s : reference.sections()) {
                Registration r = byKey.get(s.idstr() + "#" + s.instanceId());
                assertNotNull(r, "section " + s.idstr() + " instance " + s.instanceId());
                if (r instanceof Registration.Opaque opaque) {
                    assertEquals(s.size(), opaque.data().length, s.idstr());
                    assertEquals(s.versionId(), opaque.versionId(), s.idstr());
                } else {
                    assertEquals(GlobalState.IDSTR, s.idstr(), "only globalstate is modelled by livemig");
                }
            }
        }
    }

    /** Compressible but not zero: text-like pages, so QEMU's compress threads produce real zlib payloads. */
    private static byte[] compressibleBytes(int n, long seed) {
        byte[] b = new byte[n];
        var r = new Random(seed);
        for (int i = 0; i < n; i++) {
            b[i] = (byte) ('a' + r.nextInt(8));
        }
        return b;
    }

    @ParameterizedTest
    @ValueSource(strings = {"pc", "q35"})
    void aQemuStreamWithCompressedPagesLoadsIdenticallyToAPlainOne(String machine) throws Exception {
        byte[] image = compressibleBytes(4 << 20, 5);
        Path plain = qemuSnapshot(machine, image);
        Path compressed = dir.resolve("qemu-" + machine + "-compress.snap");
        try (QemuProcess qemu = QemuProcess.start(QemuOptions.paused(machine).withImage(IMAGE_GPA, image))) {
            qemu.qmp().execute("migrate-set-capabilities", dev.livemig.json.Json.object().put("capabilities",
                    new dev.livemig.json.Json.Arr(List.of(dev.livemig.json.Json.object().put("capability", "compress")
                            .put("state", true).build()))).build());
            qemu.qmp().execute("migrate-set-parameters", dev.livemig.json.Json.object().put("compress-level", 6).build());
            var info = qemu.saveSnapshot(compressed);
            long pages = info.get("compression").orElseThrow().asObject().number("pages");
            assertTrue(pages > 900, "QEMU compressed the 1024 image pages (but each block's first): " + info);
        }
        assertTrue(Files.size(compressed) < Files.size(plain) / 2, "compressed stream " + Files.size(compressed)
                + " bytes vs plain " + Files.size(plain));
        try (Machine a = qemuShaped(machine); Machine b = qemuShaped(machine)) {
            Snapshots.load(a, plain);
            Snapshots.load(b, compressed); // COMPRESS_PAGE records go through livemig's inflater
            for (RamBlock block : a.ramBlocks()) {
                RamBlock other = b.ramBlock(block.name()).orElseThrow();
                assertEquals(-1, block.memory().mismatch(other.memory()), "block " + block.name());
            }
            assertArrayEquals(image, bytes(b.ramBlock("pc.ram").orElseThrow(), IMAGE_GPA, image.length));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"pc", "q35"})
    void qemuDecompressesWhatLivemigsCompressThreadsWrote(String machine) throws Exception {
        Path fromQemu = qemuSnapshot(machine, randomBytes(4096, 2));
        Path fromLivemig = dir.resolve("livemig-" + machine + "-compress.snap");
        byte[] text = compressibleBytes(4 << 20, 6);
        try (Machine m = qemuShaped(machine)) {
            Snapshots.load(m, fromQemu);
            MemorySegment.copy(MemorySegment.ofArray(text), 0, m.ramBlock("pc.ram").orElseThrow().memory(), IMAGE_GPA, text.length);
            m.enter(RunState.PRELAUNCH);
            StandardSections.of(m).ram().options(new dev.livemig.ram.RamOptions(true, 6, 2, true, 2));
            Snapshots.save(m, fromLivemig);
            assertTrue(StandardSections.of(m).ram().counters().compressedPages.get() > 900, "pages went compressed");
        }
        try (QemuProcess qemu = QemuProcess.start(QemuOptions.incoming(machine, "defer"))) {
            qemu.qmp().execute("migrate-set-capabilities", dev.livemig.json.Json.object().put("capabilities",
                    new dev.livemig.json.Json.Arr(List.of(dev.livemig.json.Json.object().put("capability", "compress")
                            .put("state", true).build()))).build());
            qemu.qmp().execute("migrate-incoming", dev.livemig.json.Json.object().put("uri", "exec:cat '" + fromLivemig + "'").build());
            var info = qemu.waitForMigration(LOAD_TIMEOUT);
            assertEquals("completed", info.string("status"), info.toString());
            assertArrayEquals(text, qemu.readGuestMemory(IMAGE_GPA, text.length));
        }
    }

    /** Into 10.0 livemig writes 10.0's dialect for a 10.0 machine type (SWITCHOVER_START included). */
    @ParameterizedTest(name = "{0} {1}")
    @org.junit.jupiter.params.provider.MethodSource("versionsAndMachines")
    void qemuLoadsALivemigSnapshotAndHoldsWhatLivemigWrote(QemuVersion version, String machine) throws Exception {
        Path fromQemu = qemuSnapshot(version, machine, randomBytes(4096, 2));
        Path fromLivemig = dir.resolve("livemig-" + machine + ".snap");
        byte[] low = randomBytes(0xa0000, 3);          // GPA 0..0x9ffff is pc.ram
        byte[] high = randomBytes(3 << 20, 4);         // GPA 0x100000.. is pc.ram
        try (Machine m = QemuMachines.shaped(version, machine)) {
            Snapshots.load(m, fromQemu);               // device sections carried over from QEMU's guest
            RamBlock ram = m.ramBlock("pc.ram").orElseThrow();
            MemorySegment.copy(MemorySegment.ofArray(low), 0, ram.memory(), 0, low.length);
            MemorySegment.copy(MemorySegment.ofArray(high), 0, ram.memory(), 0x100000, high.length);
            ram.memory().asSlice(0x1000000, 0x10000).fill((byte) 0x5a);
            m.enter(RunState.PRELAUNCH);
            Snapshots.save(m, fromLivemig);
        }
        try (QemuProcess qemu = QemuProcess.start(QemuOptions.incoming(machine, "exec:cat '" + fromLivemig + "'").on(version))) {
            var info = qemu.waitForMigration(LOAD_TIMEOUT);
            assertEquals("completed", info.string("status"), info.toString());
            assertEquals("prelaunch", qemu.queryStatus());
            assertArrayEquals(low, qemu.readGuestMemory(0, low.length));
            assertArrayEquals(high, qemu.readGuestMemory(0x100000, high.length));
            byte[] filled = qemu.readGuestMemory(0x1000000, 0x10000);
            for (byte b : filled) {
                assertEquals(0x5a, b);
            }
            assertArrayEquals(new byte[0x10000], qemu.readGuestMemory(0x1800000, 0x10000), "untouched RAM stays zero");
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @org.junit.jupiter.params.provider.CsvSource({"V7_2, pc", "V10_0, pc"})
    void aLivemigSnapshotOfAQemuGuestRoundTripsByteForByte(QemuVersion version, String machine) throws Exception {
        Path fromQemu = qemuSnapshot(version, machine, randomBytes(64 << 10, 5));
        Path again = dir.resolve("again.snap");
        try (Machine m = QemuMachines.shaped(version, machine)) {
            Snapshots.load(m, fromQemu);
            m.enter(RunState.PRELAUNCH);
            Snapshots.save(m, again);
        }
        QemuSnapshot a = QemuSnapshot.parse(Files.readAllBytes(fromQemu));
        QemuSnapshot b = QemuSnapshot.parse(Files.readAllBytes(again));
        for (var block : a.ramBlocks()) {
            assertArrayEquals(a.ram().get(block.name()), b.ram().get(block.name()), block.name());
        }
        assertEquals(a.ramBlocks(), b.ramBlocks());
        assertEquals(a.sections().stream().map(s -> s.idstr() + "#" + s.instanceId() + "=" + s.size()).sorted().toList(),
                b.sections().stream().map(s -> s.idstr() + "#" + s.instanceId() + "=" + s.size()).sorted().toList());
        List<String> names = b.vmDescription().array("devices").stream().map(d -> d.asObject().string("name")).toList();
        assertTrue(names.contains("globalstate"), names.toString());
    }
}
