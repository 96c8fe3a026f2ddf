package dev.livemig.migration;

import dev.livemig.wire.MigrationException;

import java.util.EnumSet;
import java.util.Set;
import java.util.TreeSet;

/**
 * The capabilities and parameters of one migration, fixed when it starts and passed down (never read from
 * global state). This version knows the capabilities and parameters of live precopy; others are refused
 * with a message that names them. Names, combination rules and value ranges are QEMU's, from
 * {@link MigrationCapability}, {@link CapabilityRules} and {@link MigrationParameter}.
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

    /**
     * Sets a parameter by its QEMU name. A known parameter's value is judged first, with QEMU's text
     * ({@link MigrationParameter#validate}), so a bad value is reported as QEMU would even for a parameter
     * livemig does not use yet; only downtime-limit and max-bandwidth are then accepted.
     */
    public MigrationConfig withParameter(String name, String value) throws MigrationException {
        MigrationParameter p = MigrationParameter.byName(name);
        p.validate(value);
        return switch (p) {
            case DOWNTIME_LIMIT -> new MigrationConfig(capabilities, p.longValue(value), maxBandwidth);
            case MAX_BANDWIDTH -> new MigrationConfig(capabilities, downtimeLimitMs, p.longValue(value));
            default -> throw new MigrationException("parameter " + name + " is not built yet in livemig");
        };
    }

    /**
     * Checks capability names, then QEMU's combination rules ({@link CapabilityRules}), then that livemig
     * implements each one. Rules come before {@link #BUILT} so that a forbidden combination is reported as
     * QEMU reports it even when it involves a capability livemig lacks.
     */
    public static MigrationConfig validated(MigrationConfig c) throws MigrationException {
        var enabled = EnumSet.noneOf(MigrationCapability.class);
        for (String cap : new TreeSet<>(c.capabilities)) {
            enabled.add(MigrationCapability.byName(cap));
        }
        CapabilityRules.check(enabled);
        for (MigrationCapability cap : enabled) {
            if (!BUILT.contains(cap.qmpName())) {
                throw new MigrationException("capability " + cap.qmpName() + " is not built yet in livemig");
            }
        }
        return c;
    }
}
