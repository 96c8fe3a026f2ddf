package dev.livemig.migration;

import dev.livemig.wire.MigrationException;

import java.util.Set;
import java.util.TreeSet;

/**
 * The capabilities and parameters of one migration, fixed when it starts and passed down (never read from
 * global state). This version knows the capabilities and parameters of live precopy; others are refused
 * with a message that names them. Invariants are QEMU's: switchover-ack needs return-path.
 */
public record MigrationConfig(Set<String> capabilities, long downtimeLimitMs, long maxBandwidth) {
    /** QEMU's defaults: 300 ms downtime limit, 128 MiB/s. */
    public static final long DEFAULT_DOWNTIME_LIMIT_MS = 300;
    public static final long DEFAULT_MAX_BANDWIDTH = 128L << 20;
    /** QEMU's upper bound for downtime-limit (2000 s). */
    public static final long MAX_DOWNTIME_LIMIT_MS = 2_000_000;

    /** Capabilities this version implements. */
    public static final Set<String> BUILT = Set.of("events", "return-path", "pause-before-switchover", "switchover-ack");

    public MigrationConfig {
        capabilities = Set.copyOf(capabilities);
    }

    public static MigrationConfig defaults() {
        return new MigrationConfig(Set.of(), DEFAULT_DOWNTIME_LIMIT_MS, DEFAULT_MAX_BANDWIDTH);
    }

    public boolean has(String capability) {
        return capabilities.contains(capability);
    }

    public MigrationConfig withCapability(String capability) throws MigrationException {
        var caps = new TreeSet<>(capabilities);
        caps.add(capability);
        return validated(new MigrationConfig(caps, downtimeLimitMs, maxBandwidth));
    }

    /** Sets a parameter by its QEMU name; values are validated with QEMU's ranges. */
    public MigrationConfig withParameter(String name, String value) throws MigrationException {
        long v;
        try {
            v = Long.parseLong(value);
        } catch (NumberFormatException e) {
            throw new MigrationException("Parameter '" + name + "' expects an integer: " + value);
        }
        return switch (name) {
            case "downtime-limit" -> {
                if (v < 0 || v > MAX_DOWNTIME_LIMIT_MS) {
                    throw new MigrationException("Parameter 'downtime_limit' expects an integer in the range of 0 to "
                            + MAX_DOWNTIME_LIMIT_MS + " ms");
                }
                yield new MigrationConfig(capabilities, v, maxBandwidth);
            }
            case "max-bandwidth" -> {
                if (v < 0) {
                    throw new MigrationException("Parameter 'max_bandwidth' expects an integer in the range of 0 to "
                            + Long.MAX_VALUE + " bytes/second");
                }
                yield new MigrationConfig(capabilities, downtimeLimitMs, v);
            }
            default -> throw new MigrationException("parameter " + name + " is not built yet in livemig");
        };
    }

    /** Checks capability names and QEMU's combination rules. */
    public static MigrationConfig validated(MigrationConfig c) throws MigrationException {
        for (String cap : c.capabilities) {
            if (!BUILT.contains(cap)) {
                throw new MigrationException("capability " + cap + " is not built yet in livemig");
            }
        }
        if (c.has("switchover-ack") && !c.has("return-path")) {
            throw new MigrationException("Capability 'switchover-ack' requires capability 'return-path'");
        }
        return c;
    }
}
