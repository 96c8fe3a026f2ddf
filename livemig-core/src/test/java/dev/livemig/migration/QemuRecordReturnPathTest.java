package dev.livemig.migration;

import dev.livemig.json.Json;
import dev.livemig.machine.Machine;
import dev.livemig.qemu.QemuMachines;
import dev.livemig.qemu.QemuOptions;
import dev.livemig.qemu.QemuProcess;
import dev.livemig.qemu.QemuVersion;
import dev.livemig.savevm.Snapshots;
import dev.livemig.transport.MigrationUri;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * QEMU (7.2 and 10.0) → livemig record with the source's return path on: the recorder answers as a real
 * destination (PONG to the PING, SWITCHOVER_ACK with switchover-ack, SHUT(0) once the file is written), so
 * QEMU, which waits for SHUT before it completes and with switchover-ack for the ACK before it switches over,
 * ends {@code completed}; the file then loads into livemig and into a fresh QEMU of the same version.
 * switchover-ack is 8.1+, so 7.2 runs with return-path alone.
 */
@Tag("qemu")
class QemuRecordReturnPathTest {
    private static final String MACHINE = "pc";
    private static final int RAM_BYTES = 32 << 20;
    private static final long IMAGE_AT = 0x100000;

    @TempDir
    Path dir;

    static Stream<Arguments> sources() {
        List<Arguments> cases = new ArrayList<>();
        for (QemuVersion qemu : QemuVersion.values()) {
            cases.add(Arguments.of(qemu, List.of("return-path")));
            if (qemu != QemuVersion.V7_2) {
                cases.add(Arguments.of(qemu, List.of("return-path", "switchover-ack")));
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} with {1}")
    @MethodSource("sources")
    void aSourceWithAReturnPathCompletesIntoARecordingThatLoads(QemuVersion qemu, List<String> capabilities) throws Exception {
        byte[] image = new byte[1 << 20];
        new Random(qemu.ordinal() * 31 + capabilities.size()).nextBytes(image);
        Path file = dir.resolve("recorded.snap");
        byte[] high;
        try (QemuProcess source = QemuProcess.start(QemuOptions.paused(MACHINE).on(qemu).withImage(IMAGE_AT, image))) {
            high = source.readGuestMemory(IMAGE_AT, RAM_BYTES - (int) IMAGE_AT);
            var recorder = new StreamRecorder(new MigrationConfig(MigrationCapability.setOf(capabilities.toArray(String[]::new)), 300, MigrationConfig.DEFAULT_MAX_BANDWIDTH));
            MigrationUri at = recorder.listen(MigrationUri.parse("tcp:127.0.0.1:0"));
            var recorded = CompletableFuture.supplyAsync(() -> {
                try {
                    return recorder.record(file);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            List<Json> caps = new ArrayList<>();
            for (String c : capabilities) {
                caps.add(Json.object().put("capability", c).put("state", true).build());
            }
            source.qmp().execute("migrate-set-capabilities", Json.object().put("capabilities", new Json.Arr(caps)).build());
            source.qmp().execute("migrate-set-parameters", Json.object().put("max-bandwidth", 1L << 30).build());
            source.qmp().execute("migrate", Json.object().put("uri", at.toString()).build());
            source.waitForMigration(Duration.ofSeconds(60)); // only after SHUT(0): a source with a return path waits for it
            var result = recorded.get(30, TimeUnit.SECONDS);
            assertEquals(qemu.machineType(MACHINE), result.machineType());
            assertTrue(result.nonZeroPages() >= image.length / 4096, "the image's pages hold data: " + result);
            assertTrue(result.tailBytes() > 0, "device state and trailer kept: " + result);
        }

        try (Machine m = QemuMachines.shaped(qemu, MACHINE)) {
            Snapshots.load(m, file);
            var ram = m.ramBlock("pc.ram").orElseThrow().memory();
            assertArrayEquals(high, ram.asSlice(IMAGE_AT, high.length).toArray(ValueLayout.JAVA_BYTE), "recorded RAM");
        }
        try (QemuProcess loaded = QemuProcess.start(QemuOptions.incoming(MACHINE, "exec:cat '" + file + "'")
                .on(qemu).withPaused(true))) {
            loaded.waitForMigration(Duration.ofSeconds(30));
            assertArrayEquals(high, loaded.readGuestMemory(IMAGE_AT, high.length), "the recording loaded by " + qemu);
        }
    }
}
