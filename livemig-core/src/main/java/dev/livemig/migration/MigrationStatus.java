package dev.livemig.migration;

import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

/**
 * QEMU's MigrationStatus (§14.1) with the legal transitions of each side (§14.2, §14.3). An illegal
 * transition is a livemig bug: {@link #checkMove} throws IllegalStateException so that tests fail loudly.
 */
public enum MigrationStatus {
    NONE("none"),
    SETUP("setup"),
    CANCELLING("cancelling"),
    CANCELLED("cancelled"),
    ACTIVE("active"),
    POSTCOPY_ACTIVE("postcopy-active"),
    POSTCOPY_PAUSED("postcopy-paused"),
    /** 9.1+: a recovery's new channel is being set up (QmpDialect#recoversThroughSetup). */
    POSTCOPY_RECOVER_SETUP("postcopy-recover-setup"),
    POSTCOPY_RECOVER("postcopy-recover"),
    COMPLETED("completed"),
    FAILED("failed"),
    COLO("colo"),
    PRE_SWITCHOVER("pre-switchover"),
    DEVICE("device"),
    WAIT_UNPLUG("wait-unplug");

    private final String qemuName;

    MigrationStatus(String qemuName) {
        this.qemuName = qemuName;
    }

    /** QEMU's name of the status, as query-migrate and the MIGRATION event write it. */
    public String qemuName() {
        return qemuName;
    }

    /** True for the states a migration ends in. */
    public boolean isFinal() {
        return this == COMPLETED || this == FAILED || this == CANCELLED;
    }

    /** Which side a state machine belongs to. */
    public enum Side { SOURCE, DESTINATION }

    private static final Map<MigrationStatus, Set<MigrationStatus>> SOURCE = Map.of(
            NONE, EnumSet.of(SETUP),
            SETUP, EnumSet.of(ACTIVE, FAILED, CANCELLING),
            // QEMU 7.2 passes through device only after pre-switchover, otherwise active ends in completed;
            // 10.0 always passes through device (QmpDialect)
            // postcopy-active: straight from active in 7.2, through device in 10.0, or after pre-switchover
            ACTIVE, EnumSet.of(PRE_SWITCHOVER, DEVICE, POSTCOPY_ACTIVE, COMPLETED, FAILED, CANCELLING),
            PRE_SWITCHOVER, EnumSet.of(DEVICE, POSTCOPY_ACTIVE, FAILED, CANCELLING),
            DEVICE, EnumSet.of(POSTCOPY_ACTIVE, COMPLETED, FAILED, CANCELLING),
            // a cut link pauses postcopy until migrate resume=true reconnects (format reference §12.6)
            POSTCOPY_ACTIVE, EnumSet.of(COMPLETED, FAILED, CANCELLING, POSTCOPY_PAUSED),
            POSTCOPY_PAUSED, EnumSet.of(POSTCOPY_RECOVER_SETUP, POSTCOPY_RECOVER, FAILED, CANCELLING),
            POSTCOPY_RECOVER_SETUP, EnumSet.of(POSTCOPY_RECOVER, POSTCOPY_PAUSED, FAILED, CANCELLING),
            POSTCOPY_RECOVER, EnumSet.of(POSTCOPY_ACTIVE, POSTCOPY_PAUSED, FAILED, CANCELLING),
            CANCELLING, EnumSet.of(CANCELLED, FAILED));

    // QEMU 7.2's destination stays none while it listens and goes to active when the source connects
    // (process_incoming_migration_co); 10.0's is in setup while it listens; livemig may also give up
    // listening (cancel, a failed accept)
    private static final Map<MigrationStatus, Set<MigrationStatus>> DESTINATION = Map.of(
            NONE, EnumSet.of(SETUP, ACTIVE, FAILED, CANCELLED),
            SETUP, EnumSet.of(ACTIVE, FAILED, CANCELLED),
            ACTIVE, EnumSet.of(POSTCOPY_ACTIVE, COMPLETED, FAILED, CANCELLED),
            POSTCOPY_ACTIVE, EnumSet.of(COMPLETED, FAILED, CANCELLED, POSTCOPY_PAUSED),
            POSTCOPY_PAUSED, EnumSet.of(POSTCOPY_RECOVER_SETUP, POSTCOPY_RECOVER, FAILED, CANCELLED),
            POSTCOPY_RECOVER_SETUP, EnumSet.of(POSTCOPY_RECOVER, POSTCOPY_PAUSED, FAILED, CANCELLED),
            POSTCOPY_RECOVER, EnumSet.of(POSTCOPY_ACTIVE, POSTCOPY_PAUSED, FAILED, CANCELLED));

    /** Throws when {@code from → to} is not a transition of {@code side}. */
    public static void checkMove(Side side, MigrationStatus from, MigrationStatus to) {
        var legal = (side == Side.SOURCE ? SOURCE : DESTINATION).getOrDefault(from, Set.of());
        if (!legal.contains(to)) {
            throw new IllegalStateException("illegal " + side.name().toLowerCase() + " migration transition: "
                    + from.qemuName + " -> " + to.qemuName);
        }
    }
}
