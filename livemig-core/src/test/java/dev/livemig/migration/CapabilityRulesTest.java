package dev.livemig.migration;

import dev.livemig.migration.CapabilityRules.Relation;
import dev.livemig.migration.CapabilityRules.Rule;
import dev.livemig.wire.MigrationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.EnumSet;
import java.util.List;
import java.util.Set;

import static dev.livemig.migration.MigrationCapability.*;
import static org.junit.jupiter.api.Assertions.*;

/** QEMU's capability combination rules: every row of the table, and the cases that matter most by hand. */
class CapabilityRulesTest {
    static List<Rule> rules() {
        return CapabilityRules.RULES;
    }

    /** The subject plus whatever else it requires, leaving out the requirement {@code except}. */
    private static EnumSet<MigrationCapability> withRequirements(Rule except) {
        var set = EnumSet.of(except.subject());
        for (Rule r : CapabilityRules.RULES) {
            if (r != except && r.subject() == except.subject() && r.relation() == Relation.REQUIRES) {
                set.add(r.other());
            }
        }
        return set;
    }

    private static String refusal(Set<MigrationCapability> caps) {
        return assertThrows(MigrationException.class, () -> CapabilityRules.check(caps)).getMessage();
    }

    @ParameterizedTest
    @MethodSource("rules")
    void eachRuleRefusesWhatItForbidsWithItsOwnText(Rule rule) {
        var set = withRequirements(rule);
        if (rule.relation() == Relation.EXCLUDES) {
            set.add(rule.other());
        }
        assertTrue(rule.violatedBy(set));
        assertEquals(rule.message(), refusal(set));
    }

    @ParameterizedTest
    @MethodSource("rules")
    void eachRuleAllowsTheSubjectWhenSatisfied(Rule rule) throws MigrationException {
        var set = withRequirements(rule);
        if (rule.relation() == Relation.REQUIRES) {
            set.add(rule.other());
        }
        assertFalse(rule.violatedBy(set));
        CapabilityRules.check(set);
    }

    @ParameterizedTest
    @EnumSource(MigrationCapability.class)
    void everyCapabilityWithItsRequirementsIsAllowedAlone(MigrationCapability c) throws MigrationException {
        var set = EnumSet.of(c);
        for (Rule r : CapabilityRules.RULES) {
            if (r.subject() == c && r.relation() == Relation.REQUIRES) {
                set.add(r.other());
            }
        }
        CapabilityRules.check(set);
    }

    @Test
    void noCapabilitiesIsValid() throws MigrationException {
        CapabilityRules.check(Set.of());
    }

    @Test
    void tableHasQemusRowCount() {
        // 1 postcopy/ignore-shared + 15 background-snapshot + 3 zero-copy + 2 preempt + 1 multifd + 1 switchover-ack
        assertEquals(23, CapabilityRules.RULES.size());
    }

    @Test
    void switchoverAckRequiresReturnPath() throws MigrationException {
        assertEquals("Capability 'switchover-ack' requires capability 'return-path'", refusal(Set.of(SWITCHOVER_ACK)));
        CapabilityRules.check(Set.of(SWITCHOVER_ACK, RETURN_PATH));
    }

    @Test
    void postcopyExcludesIgnoreShared() {
        assertEquals("Postcopy is not compatible with ignore-shared", refusal(Set.of(POSTCOPY_RAM, X_IGNORE_SHARED)));
    }

    @Test
    void zeroCopySendNeedsPlainMultifd() throws MigrationException {
        String text = "Zero copy only available for non-compressed non-TLS multifd migration";
        assertEquals(text, refusal(Set.of(ZERO_COPY_SEND)));
        assertEquals(text, refusal(Set.of(ZERO_COPY_SEND, MULTIFD, XBZRLE)));
        assertEquals(text, refusal(Set.of(ZERO_COPY_SEND, MULTIFD, COMPRESS)));
        CapabilityRules.check(Set.of(ZERO_COPY_SEND, MULTIFD));
    }

    @Test
    void postcopyPreemptNeedsPostcopyAndNoCompress() throws MigrationException {
        assertEquals("Postcopy preempt requires postcopy-ram", refusal(Set.of(POSTCOPY_PREEMPT)));
        assertEquals("Postcopy preempt not compatible with compress",
                refusal(Set.of(POSTCOPY_PREEMPT, POSTCOPY_RAM, COMPRESS)));
        CapabilityRules.check(Set.of(POSTCOPY_PREEMPT, POSTCOPY_RAM));
    }

    @Test
    void multifdExcludesCompressIn72() throws MigrationException {
        assertEquals("Multifd is not compatible with compress", refusal(Set.of(MULTIFD, COMPRESS)));
        // multifd with xbzrle is refused only by newer QEMU, not by 7.2.
        CapabilityRules.check(Set.of(MULTIFD, XBZRLE));
    }

    @Test
    void postcopyWithCompressIsAllowedIn72() throws MigrationException {
        CapabilityRules.check(Set.of(POSTCOPY_RAM, COMPRESS));
    }

    @Test
    void backgroundSnapshotExcludesFifteenAndNamesTheFirstInQemusOrder() throws MigrationException {
        var excluded = EnumSet.of(POSTCOPY_RAM, DIRTY_BITMAPS, POSTCOPY_BLOCKTIME, LATE_BLOCK_ACTIVATE, RETURN_PATH,
                MULTIFD, PAUSE_BEFORE_SWITCHOVER, AUTO_CONVERGE, RELEASE_RAM, RDMA_PIN_ALL, COMPRESS, XBZRLE, X_COLO,
                VALIDATE_UUID, ZERO_COPY_SEND);
        for (MigrationCapability c : excluded) {
            assertEquals("Background-snapshot is not compatible with " + c.qmpName(),
                    refusal(Set.of(BACKGROUND_SNAPSHOT, c)));
        }
        // xbzrle comes after multifd in QEMU's list, so multifd is the one named.
        assertEquals("Background-snapshot is not compatible with multifd",
                refusal(Set.of(BACKGROUND_SNAPSHOT, XBZRLE, MULTIFD)));
        var allowed = EnumSet.complementOf(excluded);
        // Both need a capability background-snapshot excludes (return-path, postcopy-ram).
        allowed.remove(SWITCHOVER_ACK);
        allowed.remove(POSTCOPY_PREEMPT);
        CapabilityRules.check(allowed);
    }
}
