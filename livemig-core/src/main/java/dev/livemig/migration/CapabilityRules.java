package dev.livemig.migration;


import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static dev.livemig.migration.MigrationCapability.*;

/**
 * QEMU's rules on which capabilities may be enabled together, as one ordered table, checked against the
 * whole resulting set as {@code migrate-set-capabilities} does. The first rule broken, in table order, is
 * reported with QEMU's own text; the order is that of QEMU 7.2's {@code migrate_caps_check}, so a set that
 * breaks two rules gets the error QEMU would give.
 *
 * <p>Rules that depend on the host or the build (block migration compiled in, replication for x-colo,
 * userfaultfd for postcopy-ram, write-protect faults for background-snapshot, Linux for zero-copy-send,
 * a multi-channel transport for incoming multifd) and rules that depend on parameters (zero-copy-send
 * against multifd-compression or TLS) are not in this table: they need state a set of capabilities does
 * not carry.
 */
public final class CapabilityRules {
    /** How the subject relates to the other capability. */
    public enum Relation {
        /** Enabling the subject without the other capability is an error. */
        REQUIRES,
        /** Enabling both is an error. */
        EXCLUDES,
        /** Enabling the subject is an error whatever else is on (QEMU: a host or build rule; {@code other} is null). */
        UNAVAILABLE
    }

    /** One row of the table: when {@code subject} is enabled, {@code other} must be (or must not be). */
    public record Rule(MigrationCapability subject, Relation relation, MigrationCapability other, String message) {
        /** Whether this rule refuses the set of enabled capabilities (false whenever the subject is not in it). */
        public boolean violatedBy(Set<MigrationCapability> enabled) {
            if (!enabled.contains(subject)) {
                return false;
            }
            return relation == Relation.UNAVAILABLE || (relation == Relation.REQUIRES) != enabled.contains(other);
        }
    }

    /** The 7.2 list {@code check_caps_background_snapshot}, in QEMU's order (the order decides the message). */
    private static final List<MigrationCapability> NOT_WITH_BACKGROUND_SNAPSHOT = List.of(
            POSTCOPY_RAM, DIRTY_BITMAPS, POSTCOPY_BLOCKTIME, LATE_BLOCK_ACTIVATE, RETURN_PATH, MULTIFD,
            PAUSE_BEFORE_SWITCHOVER, AUTO_CONVERGE, RELEASE_RAM, RDMA_PIN_ALL, COMPRESS, XBZRLE, X_COLO,
            VALIDATE_UUID, ZERO_COPY_SEND);

    /** QEMU gives one message for every way zero-copy-send can be misused. */
    static final String ZERO_COPY = "Zero copy only available for non-compressed non-TLS multifd migration";

    /** QEMU 7.2's table, in the order it checks ({@link QmpDialect#rules()} has each dialect's whole table). */
    public static final List<Rule> RULES = table();

    private CapabilityRules() {
    }

    private static List<Rule> table() {
        var t = new ArrayList<Rule>();
        t.add(excludes(POSTCOPY_RAM, X_IGNORE_SHARED, "Postcopy is not compatible with ignore-shared"));
        for (MigrationCapability c : NOT_WITH_BACKGROUND_SNAPSHOT) {
            t.add(excludes(BACKGROUND_SNAPSHOT, c, "Background-snapshot is not compatible with " + c.qmpName()));
        }
        t.add(requires(ZERO_COPY_SEND, MULTIFD, ZERO_COPY));
        t.add(excludes(ZERO_COPY_SEND, COMPRESS, ZERO_COPY));
        t.add(excludes(ZERO_COPY_SEND, XBZRLE, ZERO_COPY));
        t.add(requires(POSTCOPY_PREEMPT, POSTCOPY_RAM, "Postcopy preempt requires postcopy-ram"));
        // Removed with compress in 9.1; in 7.2 compression threads would scatter the urgent pages.
        t.add(excludes(POSTCOPY_PREEMPT, COMPRESS, "Postcopy preempt not compatible with compress"));
        t.add(excludes(MULTIFD, COMPRESS, "Multifd is not compatible with compress"));
        // QEMU 8.1 (options.c); livemig carries switchover-ack, so it carries its rule.
        t.add(requires(SWITCHOVER_ACK, RETURN_PATH, "Capability 'switchover-ack' requires capability 'return-path'"));
        return List.copyOf(t);
    }

    static Rule requires(MigrationCapability subject, MigrationCapability other, String message) {
        return new Rule(subject, Relation.REQUIRES, other, message);
    }

    static Rule excludes(MigrationCapability subject, MigrationCapability other, String message) {
        return new Rule(subject, Relation.EXCLUDES, other, message);
    }

    static Rule unavailable(MigrationCapability subject, String message) {
        return new Rule(subject, Relation.UNAVAILABLE, null, message);
    }

    /** Refuses the set with the text of the first rule of QEMU 7.2's table it breaks. */
    public static void check(Set<MigrationCapability> enabled) throws MigrationConfigException {
        check(enabled, RULES);
    }

    /** Refuses the set with the text of the first rule of {@code rules} it breaks. */
    public static void check(Set<MigrationCapability> enabled, List<Rule> rules) throws MigrationConfigException {
        for (Rule r : rules) {
            if (r.violatedBy(enabled)) {
                throw new MigrationConfigException(r.message());
            }
        }
    }
}
