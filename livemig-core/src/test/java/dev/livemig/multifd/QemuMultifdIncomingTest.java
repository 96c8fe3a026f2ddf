package dev.livemig.multifd;

import dev.livemig.migration.MigrationCapability;
import dev.livemig.json.Json;
import dev.livemig.machine.Machine;
import dev.livemig.migration.IncomingMigration;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.qemu.QemuMachines;
import dev.livemig.qemu.QemuOptions;
import dev.livemig.qemu.QemuProcess;
import dev.livemig.qemu.QemuVersion;
import dev.livemig.savevm.Snapshots;
import dev.livemig.transport.MigrationUri;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A live migration from QEMU 7.2 and 10.0 with multifd (two channels; compression none, zlib, zstd) into a livemig
 * destination. QEMU's devices are known to the livemig machine from an earlier snapshot of the same guest
 * configuration (their vmdescription lets the live sections be read); the RAM arrives over the multifd
 * channels and must equal the migrating guest's memory.
 */
@Tag("qemu")
class QemuMultifdIncomingTest {
    private static final long REGION = 0x100000;
    private static final int REGION_BYTES = 4 << 20;

    @TempDir
    Path dir;

    private static byte[] random(long seed) {
        byte[] b = new byte[REGION_BYTES];
        new Random(seed).nextBytes(b);
        return b;
    }

    static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> cases() {
        return java.util.Arrays.stream(QemuVersion.values()).flatMap(v -> java.util.stream.Stream.of("none", "zlib", "zstd")
                .map(c -> org.junit.jupiter.params.provider.Arguments.of(v, c)));
    }

    /**
     * 7.2 syncs its channels at every RAM section's EOS; 10.0 (machine type pc-i440fx-10.0) at MULTIFD_FLUSH
     * records, with SYNC packets that say pages_alloc 0, and sends zero pages inside its packets.
     */
    @ParameterizedTest(name = "{0}, {1}")
    @org.junit.jupiter.params.provider.MethodSource("cases")
    void aQemuGuestArrivesOverMultifdChannels(QemuVersion version, String compression) throws Exception {
        Path known = dir.resolve("devices.snap");
        try (QemuProcess qemu = QemuProcess.start(QemuOptions.paused("pc").on(version).withImage(REGION, random(1)))) {
            qemu.saveSnapshot(known);
        }
        byte[] image = random(2);
        for (int i = 0; i < image.length; i += 3 * 4096) { // zero pages among them: inside 10.0's packets
            java.util.Arrays.fill(image, i, i + 4096, (byte) 0);
        }
        try (Machine m = QemuMachines.shaped(version, "pc")) {
            Snapshots.load(m, known); // QEMU's device sections, with their descriptions
            var config = new MigrationConfig(Set.of(MigrationCapability.MULTIFD), 300, 1L << 30)
                    .withParameter("multifd-channels", "2").withParameter("multifd-compression", compression);
            var incoming = dev.livemig.testing.Controllers.listen(m, config, MigrationUri.parse("tcp:127.0.0.1:0"), false);
            MigrationUri at = incoming.address();
            // what the destination held before must not survive where the source's pages are zero
            m.ramBlock("pc.ram").orElseThrow().memory().asSlice(REGION, REGION_BYTES).fill((byte) 0x5a);
            try (QemuProcess qemu = QemuProcess.start(QemuOptions.paused("pc").on(version).withImage(REGION, image))) {
                qemu.qmp().execute("migrate-set-capabilities", Json.object().put("capabilities", new Json.Arr(List.of(
                        Json.object().put("capability", "multifd").put("state", true).build()))).build());
                qemu.qmp().execute("migrate-set-parameters", Json.object().put("multifd-channels", 2)
                        .put("multifd-compression", compression).put("max-bandwidth", 1L << 40).build());
                qemu.qmp().execute("migrate", Json.object().put("uri", at.toString()).build());
                qemu.waitForMigration(Duration.ofSeconds(60));
                assertEquals(MigrationStatus.COMPLETED, incoming.awaitFinished(30, TimeUnit.SECONDS), incoming.error());
                byte[] low = qemu.readGuestMemory(0, 0xa0000);
                var ram = m.ramBlock("pc.ram").orElseThrow().memory();
                assertEquals(-1, ram.asSlice(REGION, REGION_BYTES).mismatch(MemorySegment.ofArray(image)), "the image region");
                assertEquals(-1, ram.asSlice(0, low.length).mismatch(MemorySegment.ofArray(low)), "low memory");
            }
        }
    }

    @org.junit.jupiter.api.Test
    void multifdWithoutASocketTransportIsRefused() throws Exception {
        try (Machine m = QemuMachines.shaped("pc")) {
            var config = new MigrationConfig(Set.of(MigrationCapability.MULTIFD), 300, 1L << 30);
            // the outgoing side first: a machine made a destination waits for its migration and migrates nowhere
            var out = assertThrows(dev.livemig.migration.MigrationRefusedException.class,
                    () -> dev.livemig.testing.Controllers.migrate(m, config, MigrationUri.parse("exec:cat > /dev/null")));
            assertTrue(out.getMessage().startsWith("multifd is not supported by current protocol"), out.getMessage());
            var e = assertThrows(dev.livemig.wire.MigrationException.class,
                    () -> dev.livemig.testing.Controllers.listen(m, config, MigrationUri.parse("exec:cat /dev/null"), false));
            assertTrue(e.getMessage().contains("multifd needs a socket transport"), e.getMessage());
        }
    }
}
