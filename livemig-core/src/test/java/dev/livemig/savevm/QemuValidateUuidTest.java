package dev.livemig.savevm;

import dev.livemig.migration.MigrationCapability;
import dev.livemig.json.Json;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RunState;
import dev.livemig.migration.Migration;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.qemu.QemuMachines;
import dev.livemig.qemu.QemuOptions;
import dev.livemig.qemu.QemuProcess;
import dev.livemig.qemu.QemuVersion;
import dev.livemig.transport.MigrationUri;
import dev.livemig.wire.MigrationException;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Capability validate-uuid against QEMU 7.2 and 10.0, both ways: a source with a UUID ({@code -uuid}) sends it in
 * the configuration record, and a destination with another UUID refuses the stream with QEMU's text; one with
 * the same UUID, or none, takes it.
 */
@Tag("qemu")
class QemuValidateUuidTest {
    private static final UUID A = UUID.fromString("8f3a1c52-0d41-4c6e-9b1e-2a7d5f0c9e11");
    private static final UUID B = UUID.fromString("5d2c7e90-6f1b-4a3d-8c2e-b1a9f0e4d735");

    @TempDir
    Path dir;

    @ParameterizedTest(name = "{0}")
    @EnumSource(QemuVersion.class)
    void qemusUuidIsCheckedByALivemigDestination(QemuVersion version) throws Exception {
        Path file = dir.resolve("qemu.snap");
        try (QemuProcess qemu = QemuProcess.start(QemuOptions.paused("pc").on(version).withArgs("-uuid", A.toString()))) {
            qemu.qmp().execute("migrate-set-capabilities", Json.object().put("capabilities", new Json.Arr(List.of(
                    Json.object().put("capability", "validate-uuid").put("state", true).build()))).build());
            qemu.saveSnapshot(file);
        }
        try (Machine same = QemuMachines.shaped(version, "pc", A); Machine none = QemuMachines.shaped(version, "pc")) {
            Snapshots.load(same, file);
            Snapshots.load(none, file); // QEMU warns and goes on when it has no UUID of its own
        }
        try (Machine other = QemuMachines.shaped(version, "pc", B)) {
            var e = assertThrows(MigrationException.class, () -> Snapshots.load(other, file));
            assertTrue(e.getMessage().startsWith("UUID received is " + A + " and local is " + B), e.getMessage());
            assertTrue(e.getMessage().contains("offset="), e.getMessage());
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(QemuVersion.class)
    void livemigsUuidIsCheckedByAQemuDestination(QemuVersion version) throws Exception {
        Path devices = dir.resolve("devices.snap");
        try (QemuProcess qemu = QemuProcess.start(QemuOptions.paused("pc").on(version))) {
            qemu.saveSnapshot(devices);
        }
        Path file = dir.resolve("livemig.snap");
        try (Machine m = QemuMachines.shaped(version, "pc", A)) {
            Snapshots.load(m, devices);
            m.enter(RunState.PRELAUNCH);
            var migration = dev.livemig.testing.Controllers.migrate(m, MigrationConfig.defaults().withCapability(MigrationCapability.VALIDATE_UUID),
                    MigrationUri.parse("exec:cat > '" + file + "'"));
            assertEquals(MigrationStatus.COMPLETED, migration.awaitFinished(60, TimeUnit.SECONDS), migration.info().toJson().toString());
        }
        try (QemuProcess same = QemuProcess.start(QemuOptions.incoming("pc", "exec:cat '" + file + "'").on(version)
                .withArgs("-uuid", A.toString()))) {
            assertEquals("completed", same.waitForMigration(Duration.ofSeconds(30)).string("status"));
        }
        // a QEMU destination whose load fails exits: its log says why
        String log;
        try (QemuProcess other = QemuProcess.start(QemuOptions.incoming("pc", "exec:cat '" + file + "'").on(version)
                .withArgs("-uuid", B.toString()))) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (other.isAlive()) {
                try {
                    String status = other.qmp().execute("query-migrate").asObject().get("status").map(Json::asString).orElse("none");
                    assertNotEquals("completed", status, "QEMU took a stream with another UUID");
                    if (status.equals("failed")) {
                        break;
                    }
                } catch (java.io.IOException | RuntimeException gone) {
                    break; // it exited meanwhile
                }
                assertTrue(System.nanoTime() < deadline, "QEMU neither failed nor exited within 30 s: " + other.logTail());
                Thread.sleep(20);
            }
            long exitBy = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (other.isAlive() && System.nanoTime() < exitBy
                    && !other.logTail().contains("UUID received")) { // the report is written before it exits
                Thread.sleep(20);
            }
            log = other.logTail();
        } catch (dev.livemig.qemu.QemuException e) { // it exited before its QMP socket answered
            log = e.getMessage();
        }
        assertTrue(log.contains("UUID received is " + A + " and local is " + B), log);
    }

    @org.junit.jupiter.api.Test
    void withoutTheCapabilityNoUuidIsSent() throws Exception {
        try (Machine m = QemuMachines.shaped(QemuVersion.V10_0, "pc", A)) {
            var w = dev.livemig.wire.StreamWriter.inMemory();
            new SaveVm(m, w).header(false);
            assertFalse(new String(w.toByteArray(), java.nio.charset.StandardCharsets.ISO_8859_1).contains("configuration/uuid"));
            var withIt = dev.livemig.wire.StreamWriter.inMemory();
            new SaveVm(m, withIt).header(true);
            assertTrue(new String(withIt.toByteArray(), java.nio.charset.StandardCharsets.ISO_8859_1).contains("configuration/uuid"));
        }
    }
}
