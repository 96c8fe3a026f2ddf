package dev.livemig.migration;

import dev.livemig.wire.MigrationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Capability names as QMP spells them. */
class MigrationCapabilityTest {
    @Test
    void theSetIsQemu72sThenNewerOnes() {
        var names = Arrays.stream(MigrationCapability.values()).map(MigrationCapability::qmpName).toList();
        assertEquals(List.of("xbzrle", "rdma-pin-all", "auto-converge", "zero-blocks", "compress", "events",
                "postcopy-ram", "x-colo", "release-ram", "block", "return-path", "pause-before-switchover", "multifd",
                "dirty-bitmaps", "postcopy-blocktime", "late-block-activate", "x-ignore-shared", "validate-uuid",
                "background-snapshot", "zero-copy-send", "postcopy-preempt", "switchover-ack", "dirty-limit", "mapped-ram"), names);
    }

    @ParameterizedTest
    @EnumSource(MigrationCapability.class)
    void byNameFindsEachCapability(MigrationCapability c) throws MigrationException {
        assertSame(c, MigrationCapability.byName(c.qmpName()));
    }

    @Test
    void unknownAndMisspelledNamesAreRefused() {
        for (String name : List.of("dirty_limit", "mapped_ram", "XBZRLE", "postcopy_ram", "")) {
            var e = assertThrows(MigrationException.class, () -> MigrationCapability.byName(name));
            assertEquals("unknown capability " + name, e.getMessage());
        }
    }
}
