package dev.livemig.migration;


import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * The migration parameters of QEMU 7.2 that livemig knows, with QEMU 7.2's type, default and valid range,
 * and {@link #validate} refusing a value with the text QEMU would give. Values arrive as strings (command
 * line); they are judged as QMP would judge the same JSON value:
 * <ul>
 * <li>not a number (or beyond 64 bits) for an integer: "Invalid parameter type for 'NAME', expected: integer";
 * <li>a negative number for an unsigned type wraps to 64 bits, as QEMU's input visitor casts it, and then
 *     fails the width or range check;
 * <li>too wide for uint8/uint32: "Parameter 'NAME' expects uint8_t" (the visitor names it with dashes);
 * <li>outside the range: QEMU's {@code migrate_params_check} text, "Parameter 'NAME' expects ..." with the
 *     name spelled with underscores.
 * </ul>
 * Integers are unsigned in QEMU, so {@link #min()}, {@link #max()} and parsed values compare unsigned;
 * {@code max() == -1} means no bound below 2^64-1.
 *
 * <p>QEMU 10.0's parameters are here too; which of them a QMP client sees is the {@link QmpDialect}'s choice:
 * compress-level, compress-threads, compress-wait-thread, decompress-threads and block-incremental were removed
 * in 9.1; avail-switchover-bandwidth, direct-io, mode, multifd-qatzip-level, vcpu-dirty-limit,
 * x-vcpu-dirty-limit-period and zero-page-detection are newer than 7.2. multifd-compression's qpl, uadk and
 * qatzip are build options Debian's QEMU 10.0 leaves out (it refuses them as unknown values), and so does livemig.
 */
public enum MigrationParameter {
    ANNOUNCE_INITIAL("announce-initial", Type.SIZE, 64, "50", 0, 100_000, "a value between 0 and 100000"),
    ANNOUNCE_MAX("announce-max", Type.SIZE, 64, "550", 0, 100_000, "a value between 0 and 100000"),
    ANNOUNCE_ROUNDS("announce-rounds", Type.SIZE, 64, "5", 0, 1_000, "a value between 0 and 1000"),
    // QEMU refuses 0 but its message says "between 0": the text is kept as QEMU prints it.
    ANNOUNCE_STEP("announce-step", Type.SIZE, 64, "100", 1, 10_000, "a value between 0 and 10000"),
    COMPRESS_LEVEL("compress-level", Type.INT, 8, "1", 0, 9, "a value between 0 and 9"),
    COMPRESS_THREADS("compress-threads", Type.INT, 8, "8", 1, 255, "a value between 1 and 255"),
    COMPRESS_WAIT_THREAD("compress-wait-thread", Type.BOOL, "true"),
    DECOMPRESS_THREADS("decompress-threads", Type.INT, 8, "2", 1, 255, "a value between 1 and 255"),
    THROTTLE_TRIGGER_THRESHOLD("throttle-trigger-threshold", Type.INT, 8, "50", 1, 100,
            "an integer in the range of 1 to 100"),
    CPU_THROTTLE_INITIAL("cpu-throttle-initial", Type.INT, 8, "20", 1, 99, "an integer in the range of 1 to 99"),
    CPU_THROTTLE_INCREMENT("cpu-throttle-increment", Type.INT, 8, "10", 1, 99, "an integer in the range of 1 to 99"),
    CPU_THROTTLE_TAILSLOW("cpu-throttle-tailslow", Type.BOOL, "false"),
    TLS_CREDS("tls-creds", Type.STRING, ""),
    TLS_HOSTNAME("tls-hostname", Type.STRING, ""),
    /** QEMU leaves it unset and reports it as "". */
    TLS_AUTHZ("tls-authz", Type.STRING, ""),
    /**
     * QEMU's bound is SIZE_MAX and its message prints {@code stringify(SIZE_MAX)}; livemig holds the rate in a
     * signed long, so its bound and message say Long.MAX_VALUE instead.
     */
    MAX_BANDWIDTH("max-bandwidth", Type.SIZE, 64, "134217728", 0, Long.MAX_VALUE,
            "an integer in the range of 0 to " + Long.MAX_VALUE + " bytes/second"),
    DOWNTIME_LIMIT("downtime-limit", Type.INT, 64, "300", 0, 2_000_000, "an integer in the range of 0 to (2000 * 1000) ms"),
    /** COLO checkpoint period in ms; QEMU checks only the uint32 width. */
    X_CHECKPOINT_DELAY("x-checkpoint-delay", Type.INT, 32, "20000", 0, -1, null),
    BLOCK_INCREMENTAL("block-incremental", Type.BOOL, "false"),
    MULTIFD_CHANNELS("multifd-channels", Type.INT, 8, "2", 1, 255, "a value between 1 and 255"),
    MULTIFD_COMPRESSION("multifd-compression", "none", "none", "zlib", "zstd"),
    MULTIFD_ZLIB_LEVEL("multifd-zlib-level", Type.INT, 8, "1", 0, 9, "a value between 0 and 9"),
    MULTIFD_ZSTD_LEVEL("multifd-zstd-level", Type.INT, 8, "1", 0, 20, "a value between 0 and 20"),
    /** A power of two no smaller than the target page (4 KiB on x86, livemig's page size). */
    XBZRLE_CACHE_SIZE("xbzrle-cache-size", Type.SIZE, 64, "67108864", 4096, -1,
            "a power of two no less than the target page size"),
    /** No check in QEMU: 0 means unlimited. */
    MAX_POSTCOPY_BANDWIDTH("max-postcopy-bandwidth", Type.SIZE, 64, "0", 0, -1, null),
    /** QEMU's lower bound is the current cpu-throttle-initial: {@link MigrationConfig} checks that one. */
    MAX_CPU_THROTTLE("max-cpu-throttle", Type.INT, 8, "99", 1, 99,
            "an integer in the range of cpu_throttle_initial to 99"),
    /** 8.2: the bandwidth (bytes/s) the switchover may count on instead of the measured one; 0 = measure. */
    AVAIL_SWITCHOVER_BANDWIDTH("avail-switchover-bandwidth", Type.SIZE, 64, "0", 0, -1, null),
    /** 9.1: O_DIRECT for a mapped-ram file's pages. */
    DIRECT_IO("direct-io", Type.BOOL, "false"),
    /** 8.2: normal, or a CheckPoint-and-Restart mode (issue 17). */
    MODE("mode", "normal", "normal", "cpr-reboot", "cpr-transfer"),
    /** 9.2: QAT's zip level; a multifd-compression livemig (and Debian's QEMU) does not have. */
    MULTIFD_QATZIP_LEVEL("multifd-qatzip-level", Type.INT, 8, "1", 1, 9, "a value between 1 and 9"),
    /** 8.1: dirty-limit's per-vCPU rate in MB/s; QEMU's text for 0 differs from its range texts. */
    VCPU_DIRTY_LIMIT("vcpu-dirty-limit", Type.SIZE, 64, "1", 1, -1, null),
    /** 8.1: dirty-limit's period in ms; QEMU names this one with dashes in its range text. */
    X_VCPU_DIRTY_LIMIT_PERIOD("x-vcpu-dirty-limit-period", Type.SIZE, 64, "1000", 1, 1000, null),
    /** 9.0: where zero pages are found: none, legacy (main stream) or multifd (inside packets). */
    ZERO_PAGE_DETECTION("zero-page-detection", "multifd", "none", "legacy", "multifd");

    /** The kinds of value QEMU's schema gives parameters. */
    public enum Type { INT, SIZE, BOOL, STRING, ENUM }

    /** The spellings QEMU's qapi_bool_parse accepts. */
    private static final Set<String> TRUE = Set.of("on", "yes", "true", "y");
    private static final Set<String> FALSE = Set.of("off", "no", "false", "n");

    private static final Map<String, MigrationParameter> BY_NAME = Arrays.stream(values())
            .collect(Collectors.toUnmodifiableMap(MigrationParameter::qmpName, Function.identity()));

    private final String qmpName;
    private final Type type;
    private final int bits;
    private final String defaultValue;
    private final long min;
    private final long max;
    private final String expects;
    private final List<String> choices;

    MigrationParameter(String qmpName, Type type, int bits, String defaultValue, long min, long max, String expects) {
        this.qmpName = qmpName;
        this.type = type;
        this.bits = bits;
        this.defaultValue = defaultValue;
        this.min = min;
        this.max = max;
        this.expects = expects;
        this.choices = List.of();
    }

    MigrationParameter(String qmpName, Type type, String defaultValue) {
        this(qmpName, type, 0, defaultValue, 0, 0, null);
    }

    MigrationParameter(String qmpName, String defaultValue, String... choices) {
        this.qmpName = qmpName;
        this.type = Type.ENUM;
        this.bits = 0;
        this.defaultValue = defaultValue;
        this.min = 0;
        this.max = 0;
        this.expects = null;
        this.choices = List.of(choices);
    }

    /** The parameter with this QMP name (dashes); an unknown name is refused with "unknown parameter NAME". */
    public static MigrationParameter byName(String name) throws MigrationConfigException {
        MigrationParameter p = BY_NAME.get(name);
        if (p == null) {
            throw new MigrationConfigException("unknown parameter " + name);
        }
        return p;
    }

    /** QEMU's name of the parameter, with dashes ({@code downtime-limit}), as QMP and the command line spell it. */
    public String qmpName() {
        return qmpName;
    }

    /** The QAPI type of its values, which decides how {@link #validate} reads them. */
    public Type type() {
        return type;
    }

    /** Width of an INT (8, 32 or 64); SIZE is 64; 0 for the other types. */
    public int bits() {
        return bits;
    }

    /** Whether a valid {@code value} means the same as QEMU's default ("no" for a false boolean, say). */
    public boolean isDefault(String value) throws MigrationConfigException {
        return switch (type) {
            case BOOL -> booleanValue(value) == booleanValue(defaultValue);
            case INT, SIZE -> longValue(value) == longValue(defaultValue);
            case STRING, ENUM -> value.equals(defaultValue);
        };
    }

    /** QEMU 7.2's default, spelled as a value {@link #validate} accepts. */
    public String defaultValue() {
        return defaultValue;
    }

    /** Smallest accepted value (unsigned) for INT and SIZE. */
    public long min() {
        return min;
    }

    /** Largest accepted value (unsigned; -1 is 2^64-1) for INT and SIZE. */
    public long max() {
        return max;
    }

    /** The accepted values of an ENUM, empty otherwise. */
    public List<String> choices() {
        return choices;
    }

    /** Refuses a bad value with QEMU's error text. */
    public void validate(String value) throws MigrationConfigException {
        switch (type) {
            case INT, SIZE -> longValue(value);
            case BOOL -> booleanValue(value);
            case ENUM -> {
                if (!choices.contains(value)) {
                    throw new MigrationConfigException("Parameter '" + qmpName + "' does not accept value '" + value + "'");
                }
            }
            case STRING -> {
                // Any string is an object id or host name as far as setting it goes; QEMU looks it up at use.
            }
        }
    }

    /** The value of an INT or SIZE parameter, as unsigned 64-bit, after {@link #validate}'s checks. */
    public long longValue(String value) throws MigrationConfigException {
        if (type != Type.INT && type != Type.SIZE) {
            throw new IllegalStateException(qmpName + " is not an integer parameter");
        }
        long v;
        try {
            // QEMU casts a negative JSON integer to uint64, so -1 becomes 2^64-1 and fails the range below.
            v = value.startsWith("-") ? Long.parseLong(value) : Long.parseUnsignedLong(value);
        } catch (NumberFormatException e) {
            throw new MigrationConfigException("Invalid parameter type for '" + qmpName + "', expected: integer");
        }
        if (bits < 64 && Long.compareUnsigned(v, (1L << bits) - 1) > 0) {
            throw new MigrationConfigException("Parameter '" + qmpName + "' expects uint" + bits + "_t");
        }
        boolean inRange = Long.compareUnsigned(v, min) >= 0 && Long.compareUnsigned(v, max) <= 0;
        if (!inRange || (this == XBZRLE_CACHE_SIZE && Long.bitCount(v) != 1)) {
            throw new MigrationConfigException(switch (this) {
                case VCPU_DIRTY_LIMIT -> "Parameter 'vcpu_dirty_limit' must be greater than 1 MB/s";
                case X_VCPU_DIRTY_LIMIT_PERIOD -> "Parameter '" + qmpName + "' expects a value between 1 and 1000";
                default -> "Parameter '" + qmpName.replace('-', '_') + "' expects " + expects;
            });
        }
        return v;
    }

    /** The value of a BOOL parameter, accepting QEMU's on/off, yes/no, true/false, y/n. */
    public boolean booleanValue(String value) throws MigrationConfigException {
        if (type != Type.BOOL) {
            throw new IllegalStateException(qmpName + " is not a boolean parameter");
        }
        if (TRUE.contains(value)) {
            return true;
        }
        if (FALSE.contains(value)) {
            return false;
        }
        throw new MigrationConfigException("Invalid parameter type for '" + qmpName + "', expected: boolean");
    }
}
