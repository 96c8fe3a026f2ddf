package dev.livemig.machine;

import dev.livemig.migration.MigrationCapability;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.*;

/** The dialect follows QEMU's compat properties for its machine types (format reference §0.2). */
class MachineCompatTest {
    @ParameterizedTest(name = "{0}")
    @CsvSource({
            "pc-i440fx-7.2, true, false, false, true, true",
            "pc-q35-7.2, true, false, false, true, true",      // the last with the preempt channel at setup
            "pc-i440fx-8.0, true, false, false, true, false",   // the last with a multifd sync per section
            "pc-i440fx-8.1, false, false, false, true, false",  // MULTIFD_FLUSH per round from here
            "pc-q35-8.2, false, false, false, true, false",     // the last with zero-page-detection=legacy
            "pc-i440fx-9.0, false, false, true, true, false",   // the last that a QEMU with compress knows
            "pc-i440fx-9.1, false, false, true, false, false",
            "pc-q35-9.2, false, false, true, false, false",     // the last without SWITCHOVER_START
            "pc-i440fx-10.0, false, true, true, false, false",
            "pc-q35-10.1, false, true, true, false, false",
            "pc-q35-4.0.1, true, false, false, true, true",
            "livemig-bench, false, true, true, true, false",    // not a QEMU machine type: current QEMU's wire choices
            "pc, false, true, true, true, false"})              // an alias is not what a configuration record carries
    void qemusChoicesForEachMachineType(String machineType, boolean flushPerSection, boolean switchoverStart,
                                        boolean zeroPagesInPackets, boolean compressReadable, boolean preemptAtSetup) {
        MachineCompat c = MachineCompat.forMachineType(machineType);
        assertEquals(flushPerSection, c.multifdFlushAfterEachSection(), "multifd-flush-after-each-section");
        assertEquals(switchoverStart, c.sendSwitchoverStart(), "send-switchover-start");
        assertEquals(zeroPagesInPackets, c.multifdZeroPages(), "zero-page-detection=multifd");
        assertEquals(compressReadable, c.compressReadable(), "compress");
        assertEquals(preemptAtSetup, c.preemptAtSetup(), "x-preempt-pre-7-2");
    }

    @org.junit.jupiter.api.Test
    void aMigrationWithCompressFailsAtOnceForAMachineTypeWhoseQemuHasNoCompress() throws Exception {
        try (Machine m = Machine.builder("pc-i440fx-10.0").ram("pc.ram", 1 << 20).build()) {
            var config = dev.livemig.migration.MigrationConfig.defaults().withCapability(MigrationCapability.COMPRESS);
            // a 7.2 dialect takes compress; the machine type then refuses it as the migration starts
            var migration = dev.livemig.testing.Controllers.migrate(m, config, dev.livemig.transport.MigrationUri.parse("exec:cat > /dev/null"));
            assertEquals(dev.livemig.migration.MigrationStatus.FAILED, migration.awaitFinished(30, java.util.concurrent.TimeUnit.SECONDS));
            assertTrue(migration.info().errorDesc().startsWith("capability compress cannot be used with machine type pc-i440fx-10.0"),
                    migration.info().errorDesc());
        }
    }

    @ParameterizedTest
    @CsvSource({"pc-i440fx-7.2", "livemig-test"})
    void aMachineTakesItsDialectFromItsTypeUnlessTheBuilderSetsOne(String machineType) {
        try (Machine m = Machine.builder(machineType).ram("ram", 1 << 20).build();
             Machine set = Machine.builder(machineType).ram("ram", 1 << 20).compat(MachineCompat.QEMU_7_2).build()) {
            assertEquals(MachineCompat.forMachineType(machineType), m.compat());
            assertEquals(MachineCompat.QEMU_7_2, set.compat());
        }
    }
}
