package dev.livemig.migration;

import dev.livemig.machine.MachineCompat;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

import static dev.livemig.migration.MigrationCapability.*;
import static dev.livemig.migration.MigrationParameter.*;

/**
 * The QEMU release whose migration control interface livemig presents over QMP: the version in the greeting and
 * query-version, the capabilities and parameters that exist (in QEMU's listing order), and the rules on enabling
 * capabilities together, each with QEMU's text. What travels on the wire is the machine type's business
 * ({@link MachineCompat}); like a QEMU 10.0 binary running a 7.2 machine type, the two may differ.
 *
 * <p>Lists and texts were read off Debian's qemu-system-x86 7.2 and 10.0.2 (QmpDialectAgainstQemuTest holds both
 * side by side with livemig's answers).
 */
public enum QmpDialect {
    QEMU_7_2(7, 2, 0),
    QEMU_10_0(10, 0, 2);

    private final int major;
    private final int minor;
    private final int micro;

    QmpDialect(int major, int minor, int micro) {
        this.major = major;
        this.minor = minor;
        this.micro = micro;
    }

    /** QEMU's major version, as the QMP greeting and query-version give it. */
    public int major() {
        return major;
    }

    /** QEMU's minor version. */
    public int minor() {
        return minor;
    }

    /** QEMU's micro version (that of the Debian build the dialect was read off). */
    public int micro() {
        return micro;
    }

    /** "7.2", "10.0": how the command line names it. */
    public String label() {
        return major + "." + minor;
    }

    /** The dialect labelled {@code label} (see {@link #label()}). */
    public static QmpDialect byLabel(String label) {
        for (QmpDialect d : values()) {
            if (d.label().equals(label)) {
                return d;
            }
        }
        throw new IllegalArgumentException("unknown QMP dialect " + label + " (7.2 or 10.0)");
    }

    /**
     * What a machine answers as when nobody chose: a QEMU machine type of 9.1 or later (when QEMU removed
     * compress) as 10.0, everything else, livemig's own machine types included, as 7.2.
     */
    public static QmpDialect forMachine(MachineCompat compat) {
        return compat.compressReadable() ? QEMU_7_2 : QEMU_10_0;
    }

    /** Capabilities in query-migrate-capabilities order. */
    public List<MigrationCapability> capabilities() {
        return switch (this) {
            // QEMU 7.2's enum order; switchover-ack (8.1) appended because livemig has it
            case QEMU_7_2 -> List.of(XBZRLE, RDMA_PIN_ALL, AUTO_CONVERGE, ZERO_BLOCKS, COMPRESS, EVENTS, POSTCOPY_RAM,
                    X_COLO, RELEASE_RAM, BLOCK, RETURN_PATH, PAUSE_BEFORE_SWITCHOVER, MULTIFD, DIRTY_BITMAPS,
                    POSTCOPY_BLOCKTIME, LATE_BLOCK_ACTIVATE, X_IGNORE_SHARED, VALIDATE_UUID, BACKGROUND_SNAPSHOT,
                    ZERO_COPY_SEND, POSTCOPY_PREEMPT, SWITCHOVER_ACK);
            case QEMU_10_0 -> List.of(XBZRLE, RDMA_PIN_ALL, AUTO_CONVERGE, ZERO_BLOCKS, EVENTS, POSTCOPY_RAM, X_COLO,
                    RELEASE_RAM, RETURN_PATH, PAUSE_BEFORE_SWITCHOVER, MULTIFD, DIRTY_BITMAPS, POSTCOPY_BLOCKTIME,
                    LATE_BLOCK_ACTIVATE, X_IGNORE_SHARED, VALIDATE_UUID, BACKGROUND_SNAPSHOT, ZERO_COPY_SEND,
                    POSTCOPY_PREEMPT, SWITCHOVER_ACK, DIRTY_LIMIT, MAPPED_RAM);
        };
    }

    /** Parameters that exist in this release (query-migrate-parameters lists them; others are "unexpected"). */
    public Set<MigrationParameter> parameters() {
        return switch (this) {
            case QEMU_7_2 -> EnumSet.complementOf(EnumSet.of(AVAIL_SWITCHOVER_BANDWIDTH, DIRECT_IO, MODE,
                    MULTIFD_QATZIP_LEVEL, VCPU_DIRTY_LIMIT, X_VCPU_DIRTY_LIMIT_PERIOD, ZERO_PAGE_DETECTION));
            case QEMU_10_0 -> EnumSet.complementOf(EnumSet.of(COMPRESS_LEVEL, COMPRESS_THREADS, COMPRESS_WAIT_THREAD,
                    DECOMPRESS_THREADS, BLOCK_INCREMENTAL));
        };
    }

    // ---- behaviour that changed between the two releases, as QmpConversationTest saw it ----

    /** A source passes through status device at every switchover, not only after pre-switchover (10.0). */
    public boolean passesThroughDevice() {
        return this == QEMU_10_0;
    }

    /**
     * A postcopy recovery passes through postcopy-recover-setup while its new channel is set up (9.1+): the
     * source from migrate resume=true until it is connected, the destination from migrate-recover until the
     * source connects; 7.2 goes from postcopy-paused to postcopy-recover directly.
     */
    public boolean recoversThroughSetup() {
        return this == QEMU_10_0;
    }

    /** migrate takes QEMU 8.2's {@code channels} argument (main and cpr channels as address objects). */
    public boolean takesMigrationChannels() {
        return this == QEMU_10_0;
    }

    /** A destination is in status setup while it listens; 7.2's stays none until the source connects. */
    public boolean listensInSetup() {
        return this == QEMU_10_0;
    }

    /** 7.2 sends the destination's MIGRATION setup even with the events capability off; 10.0 does not. */
    public boolean announcesIncomingSetupWithoutEvents() {
        return this == QEMU_7_2;
    }

    /**
     * migrate with a URI of no known protocol: 7.2 sets a migration up that fails at once ("Parameter 'uri' expects
     * a valid migration protocol"); 10.0 refuses before ("unknown migration protocol: URI") and nothing changes.
     */
    public boolean setsUpMigrationForUnknownProtocol() {
        return this == QEMU_7_2;
    }

    /** query-status has member singlestep (always false), which 10.0 dropped. */
    public boolean reportsSinglestep() {
        return this == QEMU_7_2;
    }

    /** query-migrate's ram has member skipped (always 0), which 10.0 dropped. */
    public boolean reportsSkippedPages() {
        return this == QEMU_7_2;
    }

    /** query-migrate of a cancelled migration has an error-desc in 10.0. */
    public boolean describesCancellation() {
        return this == QEMU_10_0;
    }

    /** Whether the capability exists in this release (query-migrate-capabilities lists it). */
    public boolean has(MigrationCapability c) {
        return capabilities().contains(c);
    }

    /** Whether the parameter exists in this release (query-migrate-parameters lists it). */
    public boolean has(MigrationParameter p) {
        return parameters().contains(p);
    }

    /** QEMU's rules on capabilities enabled together, in the order its migrate_caps_check applies them. */
    public List<CapabilityRules.Rule> rules() {
        return this == QEMU_7_2 ? RULES_7_2 : RULES_10_0;
    }

    private static final List<MigrationCapability> NOT_WITH_BACKGROUND_SNAPSHOT_10_0 = List.of(
            POSTCOPY_RAM, DIRTY_BITMAPS, POSTCOPY_BLOCKTIME, LATE_BLOCK_ACTIVATE, RETURN_PATH, MULTIFD,
            PAUSE_BEFORE_SWITCHOVER, AUTO_CONVERGE, RELEASE_RAM, RDMA_PIN_ALL, XBZRLE, X_COLO, VALIDATE_UUID,
            ZERO_COPY_SEND);

    /** 7.2's table, then the rules of the capabilities 7.2 does not have (for livemig's own command line). */
    private static final List<CapabilityRules.Rule> RULES_7_2;
    private static final List<CapabilityRules.Rule> RULES_10_0;

    static {
        var dirtyLimit = List.of(
                CapabilityRules.excludes(DIRTY_LIMIT, AUTO_CONVERGE, "dirty-limit conflicts with auto-converge either of then available currently"),
                // a host rule in QEMU (KVM's dirty ring); a livemig machine never has one
                CapabilityRules.unavailable(DIRTY_LIMIT, "dirty-limit requires KVM with accelerator property 'dirty-ring-size' set"));
        var mappedRam = List.of(
                CapabilityRules.excludes(MAPPED_RAM, XBZRLE, "Mapped-ram migration is incompatible with xbzrle"),
                CapabilityRules.excludes(MAPPED_RAM, COMPRESS, "Mapped-ram migration is incompatible with compression"),
                CapabilityRules.excludes(MAPPED_RAM, POSTCOPY_RAM, "Mapped-ram migration is incompatible with postcopy"));
        var r72 = new ArrayList<>(CapabilityRules.RULES);
        r72.addAll(dirtyLimit);
        r72.addAll(mappedRam);
        RULES_7_2 = List.copyOf(r72);

        var r = new ArrayList<CapabilityRules.Rule>();
        r.add(CapabilityRules.excludes(POSTCOPY_RAM, X_IGNORE_SHARED, "Postcopy is not compatible with ignore-shared"));
        r.add(CapabilityRules.excludes(POSTCOPY_RAM, MULTIFD, "Postcopy is not yet compatible with multifd"));
        for (MigrationCapability c : NOT_WITH_BACKGROUND_SNAPSHOT_10_0) {
            r.add(CapabilityRules.excludes(BACKGROUND_SNAPSHOT, c, "Background-snapshot is not compatible with " + c.qmpName()));
        }
        r.add(CapabilityRules.requires(ZERO_COPY_SEND, MULTIFD, CapabilityRules.ZERO_COPY));
        r.add(CapabilityRules.excludes(ZERO_COPY_SEND, XBZRLE, CapabilityRules.ZERO_COPY));
        r.add(CapabilityRules.requires(POSTCOPY_PREEMPT, POSTCOPY_RAM, "Postcopy preempt requires postcopy-ram"));
        r.add(CapabilityRules.requires(SWITCHOVER_ACK, RETURN_PATH, "Capability 'switchover-ack' requires capability 'return-path'"));
        r.addAll(dirtyLimit);
        r.add(CapabilityRules.excludes(MULTIFD, XBZRLE, "Multifd is not compatible with xbzrle"));
        r.addAll(mappedRam.stream().filter(rule -> rule.other() != COMPRESS).toList());
        RULES_10_0 = List.copyOf(r);
    }
}
