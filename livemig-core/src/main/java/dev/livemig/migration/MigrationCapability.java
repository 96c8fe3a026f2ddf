package dev.livemig.migration;


import java.util.Arrays;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * Every migration capability of QEMU 7.2 and of QEMU 10.0, by its QMP name (as {@code migrate-set-capabilities}
 * spells it). All capabilities default to off. Names are matched exactly: QMP enum values are case-sensitive.
 * Which of them a QMP client sees is the {@link QmpDialect}'s choice: {@code compress} and {@code block} were
 * removed in 9.1; {@code switchover-ack} (8.1), {@code dirty-limit} (8.1) and {@code mapped-ram} (9.0) are newer
 * than 7.2 (livemig's 7.2 dialect lists switchover-ack all the same, because livemig implements it).
 */
public enum MigrationCapability {
    XBZRLE("xbzrle"),
    RDMA_PIN_ALL("rdma-pin-all"),
    AUTO_CONVERGE("auto-converge"),
    ZERO_BLOCKS("zero-blocks"),
    COMPRESS("compress"),
    EVENTS("events"),
    POSTCOPY_RAM("postcopy-ram"),
    X_COLO("x-colo"),
    RELEASE_RAM("release-ram"),
    BLOCK("block"),
    RETURN_PATH("return-path"),
    PAUSE_BEFORE_SWITCHOVER("pause-before-switchover"),
    MULTIFD("multifd"),
    DIRTY_BITMAPS("dirty-bitmaps"),
    POSTCOPY_BLOCKTIME("postcopy-blocktime"),
    LATE_BLOCK_ACTIVATE("late-block-activate"),
    X_IGNORE_SHARED("x-ignore-shared"),
    VALIDATE_UUID("validate-uuid"),
    BACKGROUND_SNAPSHOT("background-snapshot"),
    ZERO_COPY_SEND("zero-copy-send"),
    POSTCOPY_PREEMPT("postcopy-preempt"),
    /** Not in 7.2: added in QEMU 8.1; livemig has it. */
    SWITCHOVER_ACK("switchover-ack"),
    /** QEMU 8.1: throttles vCPUs through KVM's dirty ring, which a livemig machine does not have. */
    DIRTY_LIMIT("dirty-limit"),
    /** QEMU 9.0: RAM pages at fixed offsets of a file (format reference §17). */
    MAPPED_RAM("mapped-ram");

    private static final Map<String, MigrationCapability> BY_NAME = Arrays.stream(values())
            .collect(Collectors.toUnmodifiableMap(MigrationCapability::qmpName, Function.identity()));

    private final String qmpName;

    MigrationCapability(String qmpName) {
        this.qmpName = qmpName;
    }

    /** The name QMP and the command line use, e.g. {@code postcopy-ram}. */
    public String qmpName() {
        return qmpName;
    }

    /** The capability with this QMP name; an unknown name is refused with "unknown capability NAME". */
    public static MigrationCapability byName(String name) throws MigrationConfigException {
        MigrationCapability c = BY_NAME.get(name);
        if (c == null) {
            throw new MigrationConfigException("unknown capability " + name);
        }
        return c;
    }

    /** The capabilities of these QMP names, in QEMU's order; an unknown name is refused as by {@link #byName}. */
    public static java.util.Set<MigrationCapability> setOf(String... names) throws MigrationConfigException {
        var set = java.util.EnumSet.noneOf(MigrationCapability.class);
        for (String name : names) {
            set.add(byName(name));
        }
        return set;
    }
}
