package dev.livemig.migration;

import dev.livemig.machine.MachineCompat;
import dev.livemig.wire.MigrationException;
import org.junit.jupiter.api.Test;

import java.util.EnumSet;
import java.util.Set;

import static dev.livemig.migration.MigrationCapability.*;
import static org.junit.jupiter.api.Assertions.*;

/** Which QEMU release livemig answers as, and what differs between the two (QmpDialectAgainstQemuTest: vs QEMU). */
class QmpDialectTest {
    @Test
    void aMachineAnswersAsTheReleaseOfItsTypeAndLivemigsOwnAs72() {
        assertEquals(QmpDialect.QEMU_7_2, QmpDialect.forMachine(MachineCompat.forMachineType("pc-i440fx-7.2")));
        assertEquals(QmpDialect.QEMU_7_2, QmpDialect.forMachine(MachineCompat.forMachineType("pc-q35-9.0")), "9.0 still had compress");
        assertEquals(QmpDialect.QEMU_10_0, QmpDialect.forMachine(MachineCompat.forMachineType("pc-q35-9.1")));
        assertEquals(QmpDialect.QEMU_10_0, QmpDialect.forMachine(MachineCompat.forMachineType("pc-i440fx-10.0")));
        assertEquals(QmpDialect.QEMU_7_2, QmpDialect.forMachine(MachineCompat.forMachineType("livemig-demo-1")));
        assertEquals(QmpDialect.QEMU_10_0, QmpDialect.byLabel("10.0"));
        assertThrows(IllegalArgumentException.class, () -> QmpDialect.byLabel("8.2"));
    }

    @Test
    void compressAndBlockLeftIn91WhileMappedRamAndDirtyLimitCame() {
        assertTrue(QmpDialect.QEMU_7_2.has(COMPRESS) && QmpDialect.QEMU_7_2.has(BLOCK));
        assertFalse(QmpDialect.QEMU_10_0.has(COMPRESS) || QmpDialect.QEMU_10_0.has(BLOCK));
        assertFalse(QmpDialect.QEMU_7_2.has(MAPPED_RAM) || QmpDialect.QEMU_7_2.has(DIRTY_LIMIT));
        assertTrue(QmpDialect.QEMU_10_0.has(MAPPED_RAM) && QmpDialect.QEMU_10_0.has(DIRTY_LIMIT));
        assertTrue(QmpDialect.QEMU_7_2.has(MigrationParameter.COMPRESS_LEVEL));
        assertFalse(QmpDialect.QEMU_10_0.has(MigrationParameter.COMPRESS_LEVEL));
        assertTrue(QmpDialect.QEMU_10_0.has(MigrationParameter.ZERO_PAGE_DETECTION));
        assertFalse(QmpDialect.QEMU_7_2.has(MigrationParameter.ZERO_PAGE_DETECTION));
        assertEquals(EnumSet.allOf(MigrationCapability.class), union(), "every capability belongs to a dialect");
    }

    private static Set<MigrationCapability> union() {
        var all = EnumSet.copyOf(QmpDialect.QEMU_7_2.capabilities());
        all.addAll(QmpDialect.QEMU_10_0.capabilities());
        return all;
    }

    @Test
    void ruleTextsFollowTheDialect() {
        MigrationConfig multifdXbzrle = new MigrationConfig(Set.of(MigrationCapability.MULTIFD, MigrationCapability.XBZRLE), 300, 0);
        assertDoesNotThrow(() -> MigrationConfig.validated(multifdXbzrle, QmpDialect.QEMU_7_2), "7.2 allowed it");
        assertEquals("Multifd is not compatible with xbzrle", assertThrows(MigrationException.class,
                () -> MigrationConfig.validated(multifdXbzrle, QmpDialect.QEMU_10_0)).getMessage());
        assertEquals("dirty-limit requires KVM with accelerator property 'dirty-ring-size' set", assertThrows(MigrationException.class,
                () -> MigrationConfig.validated(new MigrationConfig(Set.of(MigrationCapability.DIRTY_LIMIT), 300, 0), QmpDialect.QEMU_10_0)).getMessage());
        assertEquals("dirty-limit conflicts with auto-converge either of then available currently", assertThrows(MigrationException.class,
                () -> MigrationConfig.validated(new MigrationConfig(Set.of(MigrationCapability.DIRTY_LIMIT, MigrationCapability.AUTO_CONVERGE), 300, 0), QmpDialect.QEMU_10_0))
                .getMessage(), "QEMU's order: the conflict before the host");
    }

    @Test
    void newParametersAreJudgedWithQemusTexts() throws Exception {
        MigrationConfig c = MigrationConfig.defaults();
        assertEquals("Parameter 'multifd_qatzip_level' expects a value between 1 and 9",
                assertThrows(MigrationException.class, () -> c.withParameter("multifd-qatzip-level", "10")).getMessage());
        assertEquals("Parameter 'vcpu_dirty_limit' must be greater than 1 MB/s",
                assertThrows(MigrationException.class, () -> c.withParameter("vcpu-dirty-limit", "0")).getMessage());
        assertEquals("Parameter 'x-vcpu-dirty-limit-period' expects a value between 1 and 1000",
                assertThrows(MigrationException.class, () -> c.withParameter("x-vcpu-dirty-limit-period", "1001")).getMessage());
        assertEquals("Parameter 'zero-page-detection' does not accept value 'some'",
                assertThrows(MigrationException.class, () -> c.withParameter("zero-page-detection", "some")).getMessage());
        assertEquals(dev.livemig.ram.ZeroPageDetection.NONE, c.withParameter("zero-page-detection", "none").ramOptions().zeroPages());
        assertNull(c.ramOptions().zeroPages(), "unset: the machine type's default");
        assertEquals(5_000_000, c.withParameter("avail-switchover-bandwidth", "5000000").longValue(MigrationParameter.AVAIL_SWITCHOVER_BANDWIDTH));
        assertEquals(MigrationConfig.CPR_TRANSFER, c.withParameter("mode", "cpr-transfer").text(MigrationParameter.MODE));
        assertEquals("Parameter 'mode' does not accept value 'cpr-exec'",
                assertThrows(MigrationException.class, () -> c.withParameter("mode", "cpr-exec")).getMessage(),
                "QEMU 10.0 has no cpr-exec mode, nor has livemig");
    }
}
