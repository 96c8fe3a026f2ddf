package dev.livemig.migration;

import dev.livemig.wire.MigrationException;

import java.util.EnumMap;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

/**
 * The capabilities and parameters of one migration, fixed when it starts and passed down (never read from
 * global state). This version knows the capabilities and parameters of live precopy; others are refused
 * with a message that names them. Names, combination rules and value ranges are QEMU's, from
 * {@link MigrationCapability}, {@link CapabilityRules} and {@link MigrationParameter}.
 */
public record MigrationConfig(Set<MigrationCapability> capabilities, long downtimeLimitMs, long maxBandwidth,
                              Map<MigrationParameter, String> tuned) {
    /** QEMU's defaults: 300 ms downtime limit, 128 MiB/s. */
    public static final long DEFAULT_DOWNTIME_LIMIT_MS = 300;
    /** QEMU's default max-bandwidth, bytes per second. */
    public static final long DEFAULT_MAX_BANDWIDTH = 128L << 20;
    /** QEMU's upper bound for downtime-limit (2000 s). */
    public static final long MAX_DOWNTIME_LIMIT_MS = 2_000_000;

    /** Capabilities this version implements. */
    public static final Set<MigrationCapability> BUILT = java.util.Collections.unmodifiableSet(EnumSet.of(
            MigrationCapability.EVENTS, MigrationCapability.RETURN_PATH, MigrationCapability.PAUSE_BEFORE_SWITCHOVER,
            MigrationCapability.SWITCHOVER_ACK, MigrationCapability.AUTO_CONVERGE, MigrationCapability.COMPRESS,
            MigrationCapability.XBZRLE, MigrationCapability.MULTIFD, MigrationCapability.ZERO_COPY_SEND,
            MigrationCapability.VALIDATE_UUID, MigrationCapability.MAPPED_RAM, MigrationCapability.POSTCOPY_RAM,
            MigrationCapability.RELEASE_RAM, MigrationCapability.POSTCOPY_BLOCKTIME, MigrationCapability.POSTCOPY_PREEMPT,
            MigrationCapability.X_IGNORE_SHARED));

    /**
     * Parameters any value of which changes nothing here, accepted and kept as QEMU keeps them: the
     * destination's self-announcements are for network devices, and a livemig machine has none; the qatzip level
     * and dirty-limit's two serve a compression method and a capability that cannot be enabled (as in Debian's
     * QEMU, which also keeps their values).
     */
    public static final Set<MigrationParameter> INERT_PARAMETERS = EnumSet.of(MigrationParameter.ANNOUNCE_INITIAL,
            MigrationParameter.ANNOUNCE_MAX, MigrationParameter.ANNOUNCE_ROUNDS, MigrationParameter.ANNOUNCE_STEP,
            MigrationParameter.MULTIFD_QATZIP_LEVEL, MigrationParameter.VCPU_DIRTY_LIMIT,
            MigrationParameter.X_VCPU_DIRTY_LIMIT_PERIOD);

    /** Parameters this version uses, besides downtime-limit and max-bandwidth (record components). */
    public static final Set<MigrationParameter> BUILT_PARAMETERS = EnumSet.of(MigrationParameter.CPU_THROTTLE_INITIAL,
            MigrationParameter.CPU_THROTTLE_INCREMENT, MigrationParameter.CPU_THROTTLE_TAILSLOW,
            MigrationParameter.MAX_CPU_THROTTLE, MigrationParameter.THROTTLE_TRIGGER_THRESHOLD,
            MigrationParameter.COMPRESS_LEVEL, MigrationParameter.COMPRESS_THREADS, MigrationParameter.COMPRESS_WAIT_THREAD,
            MigrationParameter.DECOMPRESS_THREADS, MigrationParameter.XBZRLE_CACHE_SIZE,
            MigrationParameter.MULTIFD_CHANNELS, MigrationParameter.MULTIFD_COMPRESSION,
            MigrationParameter.MULTIFD_ZLIB_LEVEL, MigrationParameter.MULTIFD_ZSTD_LEVEL,
            MigrationParameter.AVAIL_SWITCHOVER_BANDWIDTH, MigrationParameter.ZERO_PAGE_DETECTION, MigrationParameter.DIRECT_IO,
            MigrationParameter.MAX_POSTCOPY_BANDWIDTH, MigrationParameter.TLS_CREDS, MigrationParameter.TLS_HOSTNAME,
            MigrationParameter.TLS_AUTHZ);

    /** {@code tuned}: validated values of built parameters set away from QEMU's defaults. */
    public MigrationConfig {
        capabilities = capabilities.isEmpty() ? Set.of()
                : java.util.Collections.unmodifiableSet(EnumSet.copyOf(capabilities)); // in QEMU's order
        tuned = Map.copyOf(tuned);
    }

    /**
     * With every other parameter at QEMU's default. Not checked: {@link #validated(MigrationConfig)} applies
     * QEMU's rules, as starting a migration does.
     */
    public MigrationConfig(Set<MigrationCapability> capabilities, long downtimeLimitMs, long maxBandwidth) {
        this(capabilities, downtimeLimitMs, maxBandwidth, Map.of());
    }

    /** QEMU's defaults: no capability, every parameter at its default value. */
    public static MigrationConfig defaults() {
        return new MigrationConfig(Set.of(), DEFAULT_DOWNTIME_LIMIT_MS, DEFAULT_MAX_BANDWIDTH);
    }

    /**
     * direct-io applies to mapped-ram's page areas only (QEMU's multifd file channels); livemig refuses it
     * without that capability instead of ignoring it.
     */
    public void checkDirectIo() throws MigrationConfigException {
        if (booleanValue(MigrationParameter.DIRECT_IO) && !has(MigrationCapability.MAPPED_RAM)) {
            throw new MigrationConfigException("direct-io needs capability mapped-ram: only its page areas are read and written unbuffered");
        }
    }

    /** Whether the capability is on. */
    public boolean has(MigrationCapability capability) {
        return capabilities.contains(capability);
    }

    /** With {@code capability} on as well; the result checked as one set ({@link #validated(MigrationConfig)}). */
    public MigrationConfig withCapability(MigrationCapability capability) throws MigrationConfigException {
        return withCapabilities(java.util.Map.of(capability, true), QmpDialect.QEMU_7_2);
    }

    /** With each capability of {@code changes} switched on or off, the result checked as one set with {@code dialect}'s rules. */
    public MigrationConfig withCapabilities(Map<MigrationCapability, Boolean> changes, QmpDialect dialect) throws MigrationConfigException {
        var caps = EnumSet.noneOf(MigrationCapability.class);
        caps.addAll(capabilities);
        changes.forEach((cap, on) -> {
            if (on) {
                caps.add(cap);
            } else {
                caps.remove(cap);
            }
        });
        return validated(new MigrationConfig(caps, downtimeLimitMs, maxBandwidth, tuned), dialect);
    }

    /** The capabilities' QEMU names, in QEMU's order (for messages and listings). */
    public java.util.List<String> capabilityNames() {
        return capabilities.stream().map(MigrationCapability::qmpName).toList();
    }

    /** What the "ram" handler needs of this configuration. */
    dev.livemig.ram.RamOptions ramOptions() {
        return new dev.livemig.ram.RamOptions(has(MigrationCapability.COMPRESS), (int) longValue(MigrationParameter.COMPRESS_LEVEL),
                (int) longValue(MigrationParameter.COMPRESS_THREADS), booleanValue(MigrationParameter.COMPRESS_WAIT_THREAD),
                (int) longValue(MigrationParameter.DECOMPRESS_THREADS), has(MigrationCapability.XBZRLE),
                longValue(MigrationParameter.XBZRLE_CACHE_SIZE),
                tuned.containsKey(MigrationParameter.ZERO_PAGE_DETECTION) // unset: the machine type's default
                        ? dev.livemig.ram.ZeroPageDetection.byQemuName(text(MigrationParameter.ZERO_PAGE_DETECTION)) : null);
    }

    /** Parameter mode's checkpoint-restart into a file a later process loads (format reference §16.1). */
    public static final String CPR_REBOOT = "cpr-reboot";
    /** Parameter mode's checkpoint-restart into a new process that maps the same memory, handed over (§16.1, §16.2). */
    public static final String CPR_TRANSFER = "cpr-transfer";

    /**
     * Parameter mode is a CPR one: the source stops the guest before anything is sent (no dirty tracking is
     * needed, the stream is one pass), as QEMU does for every CPR mode.
     */
    public boolean cprMode() {
        String mode = text(MigrationParameter.MODE);
        return mode.equals(CPR_REBOOT) || mode.equals(CPR_TRANSFER);
    }

    /** A parameter's value as QEMU's query-migrate-parameters reports it (its default when never set). */
    public String text(MigrationParameter p) {
        return switch (p) {
            case DOWNTIME_LIMIT -> Long.toString(downtimeLimitMs);
            case MAX_BANDWIDTH -> Long.toString(maxBandwidth);
            default -> tuned.getOrDefault(p, p.defaultValue());
        };
    }

    /** An integer parameter's value. */
    public long longValue(MigrationParameter p) {
        try {
            return p.longValue(text(p));
        } catch (MigrationConfigException e) {
            throw new IllegalStateException("a stored parameter no longer validates: " + p.qmpName(), e);
        }
    }

    /** A boolean parameter's value. */
    public boolean booleanValue(MigrationParameter p) {
        try {
            return p.booleanValue(text(p));
        } catch (MigrationConfigException e) {
            throw new IllegalStateException("a stored parameter no longer validates: " + p.qmpName(), e);
        }
    }

    /**
     * Sets a parameter by its QEMU name. A known parameter's value is judged first, with QEMU's text
     * ({@link MigrationParameter#validate}), so a bad value is reported as QEMU would even for a parameter
     * livemig does not use yet. A parameter livemig does not build is accepted at its default (management
     * software such as libvirt sets {@code tls-creds: ""} before every plain migration) or when it is inert
     * ({@link #INERT_PARAMETERS}); any other value would change behaviour and is refused.
     */
    public MigrationConfig withParameter(String name, String value) throws MigrationConfigException {
        MigrationParameter p = MigrationParameter.byName(name);
        p.validate(value);
        MigrationConfig next = switch (p) {
            case DOWNTIME_LIMIT -> new MigrationConfig(capabilities, p.longValue(value), maxBandwidth, tuned);
            case MAX_BANDWIDTH -> new MigrationConfig(capabilities, downtimeLimitMs, p.longValue(value), tuned);
            default -> {
                if (!BUILT_PARAMETERS.contains(p) && !INERT_PARAMETERS.contains(p) && !p.isDefault(value) && p != MigrationParameter.MODE) {
                    throw new MigrationConfigException("parameter " + name + " is not built yet in livemig (only its default "
                            + (p.type() == MigrationParameter.Type.STRING ? "\"" + p.defaultValue() + "\"" : p.defaultValue())
                            + " is accepted)");
                }
                var t = new EnumMap<MigrationParameter, String>(MigrationParameter.class);
                t.putAll(tuned);
                t.put(p, switch (p.type()) {
                    case BOOL -> Boolean.toString(p.booleanValue(value));
                    case INT, SIZE -> Long.toString(p.longValue(value));
                    case STRING, ENUM -> value;
                });
                yield new MigrationConfig(capabilities, downtimeLimitMs, maxBandwidth, t);
            }
        };
        next.checkAcrossParameters();
        return next;
    }

    /** QEMU judges some parameters against others (migrate_params_check on the merged set). */
    private void checkAcrossParameters() throws MigrationConfigException {
        checkZeroCopyCompression();
        if (longValue(MigrationParameter.MAX_CPU_THROTTLE) < longValue(MigrationParameter.CPU_THROTTLE_INITIAL)) {
            throw new MigrationConfigException("Parameter 'max_cpu_throttle' expects an integer in the range of cpu_throttle_initial to 99");
        }
    }

    /** QEMU checks zero-copy-send against multifd-compression and TLS from both sides, with one text. */
    private void checkZeroCopyCompression() throws MigrationConfigException {
        if (has(MigrationCapability.ZERO_COPY_SEND) && (!text(MigrationParameter.MULTIFD_COMPRESSION).equals("none") || tls())) {
            throw new MigrationConfigException(CapabilityRules.ZERO_COPY);
        }
        if (has(MigrationCapability.MAPPED_RAM) && tls()) {
            throw new MigrationConfigException("Mapped-ram only available for non-compressed non-TLS multifd migration");
        }
    }

    /** Whether the channels run TLS: tls-creds names credentials (QEMU's migrate_tls). */
    public boolean tls() {
        return !text(MigrationParameter.TLS_CREDS).isEmpty();
    }

    /**
     * The TLS that tls-creds, tls-hostname and tls-authz name, looked up in {@code objects} for {@code side} (a source
     * is the client, a destination the server), with QEMU's texts for what is missing or wrong; null without TLS.
     */
    public dev.livemig.transport.tls.MigrationTls resolveTls(dev.livemig.transport.tls.UserObjects objects,
                                                            dev.livemig.transport.tls.TlsEndpoint side) throws MigrationException {
        if (!tls()) {
            return null;
        }
        try {
            return dev.livemig.transport.tls.MigrationTls.resolve(objects, side, text(MigrationParameter.TLS_CREDS),
                    text(MigrationParameter.TLS_HOSTNAME), text(MigrationParameter.TLS_AUTHZ));
        } catch (dev.livemig.transport.tls.TlsException e) {
            throw new MigrationException(e.getMessage(), e);
        }
    }

    /**
     * Checks QEMU's combination rules ({@link CapabilityRules}), then that livemig
     * implements each one. Rules come before {@link #BUILT} so that a forbidden combination is reported as
     * QEMU reports it even when it involves a capability livemig lacks.
     */
    public static MigrationConfig validated(MigrationConfig c) throws MigrationConfigException {
        return validated(c, QmpDialect.QEMU_7_2);
    }

    /** As {@link #validated(MigrationConfig)}, with {@code dialect}'s rules and their texts. */
    public static MigrationConfig validated(MigrationConfig c, QmpDialect dialect) throws MigrationConfigException {
        var enabled = c.capabilities.isEmpty() ? EnumSet.noneOf(MigrationCapability.class) : EnumSet.copyOf(c.capabilities);
        CapabilityRules.check(enabled, dialect.rules());
        c.checkZeroCopyCompression();
        for (MigrationCapability cap : enabled) {
            if (!BUILT.contains(cap)) {
                throw new MigrationConfigException("capability " + cap.qmpName() + " is not built yet in livemig");
            }
        }
        return c;
    }
}
