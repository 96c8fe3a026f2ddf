package dev.livemig.migration;

import dev.livemig.wire.MigrationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** MigrationConfig's public API, now backed by QEMU's names, rules and ranges. */
class MigrationConfigTest {
    private static String refusal(org.junit.jupiter.api.function.Executable e) {
        return assertThrows(MigrationException.class, e).getMessage();
    }

    @Test
    void defaultsAreQemus() {
        var d = MigrationConfig.defaults();
        assertEquals(Set.of(), d.capabilities());
        assertEquals(300, d.downtimeLimitMs());
        assertEquals(128L << 20, d.maxBandwidth());
        assertEquals(MigrationParameter.DOWNTIME_LIMIT.defaultValue(), Long.toString(MigrationConfig.DEFAULT_DOWNTIME_LIMIT_MS));
        assertEquals(MigrationParameter.MAX_BANDWIDTH.defaultValue(), Long.toString(MigrationConfig.DEFAULT_MAX_BANDWIDTH));
        assertEquals(MigrationConfig.MAX_DOWNTIME_LIMIT_MS, MigrationParameter.DOWNTIME_LIMIT.max());
    }

    @Test
    void builtCapabilitiesAreAccepted() throws MigrationException {
        var c = MigrationConfig.defaults().withCapability(MigrationCapability.EVENTS).withCapability(MigrationCapability.RETURN_PATH)
                .withCapability(MigrationCapability.SWITCHOVER_ACK).withCapability(MigrationCapability.PAUSE_BEFORE_SWITCHOVER);
        assertTrue(c.has(MigrationCapability.SWITCHOVER_ACK));
        assertSame(c, MigrationConfig.validated(c));
        for (MigrationCapability cap : MigrationConfig.BUILT) {
            assertEquals(cap, assertDoesNotThrow(() -> MigrationCapability.byName(cap.qmpName())));
        }
    }

    @Test
    void switchoverAckWithoutReturnPathKeepsQemusText() {
        assertEquals("Capability 'switchover-ack' requires capability 'return-path'",
                refusal(() -> MigrationConfig.defaults().withCapability(MigrationCapability.SWITCHOVER_ACK)));
        assertEquals("Capability 'switchover-ack' requires capability 'return-path'",
                refusal(() -> MigrationConfig.validated(new MigrationConfig(Set.of(MigrationCapability.SWITCHOVER_ACK), 300, 1))));
    }

    @Test
    void configurationMistakesAreTheirOwnKindAndNameNoStreamPosition() {
        for (org.junit.jupiter.api.function.Executable mistake : List.<org.junit.jupiter.api.function.Executable>of(
                () -> MigrationCapability.byName("warp-drive"),
                () -> MigrationConfig.defaults().withParameter("multifd-channels", "0"),
                () -> MigrationConfig.defaults().withParameter("no-such-parameter", "1"),
                () -> MigrationConfig.defaults().withCapability(MigrationCapability.SWITCHOVER_ACK))) {
            var e = assertThrows(MigrationConfigException.class, mistake);
            assertNull(e.section(), e.getMessage());
            assertFalse(e.getMessage().contains("offset="), e.getMessage());
        }
    }

    @Test
    void unknownCapabilityIsNamed() {
        assertEquals("unknown capability warp-drive",
                refusal(() -> MigrationCapability.byName("warp-drive")));
    }

    /** Every capability not built yet, except two that alone break a rule first (see rulesComeBeforeTheBuiltCheck). */
    static List<MigrationCapability> unbuiltAlone() {
        return java.util.Arrays.stream(MigrationCapability.values())
                .filter(c -> !MigrationConfig.BUILT.contains(c))
                // refused by a rule of their own first (dirty-limit: QEMU's host rule, KVM's dirty ring)
                .filter(c -> c != MigrationCapability.ZERO_COPY_SEND && c != MigrationCapability.POSTCOPY_PREEMPT
                        && c != MigrationCapability.DIRTY_LIMIT)
                .toList();
    }

    @ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("unbuiltAlone")
    void validButUnbuiltCapabilitiesAreRefusedByName(MigrationCapability c) {
        assertEquals("capability " + c.qmpName() + " is not built yet in livemig",
                refusal(() -> MigrationConfig.defaults().withCapability(c)));
    }

    @Test
    void rulesComeBeforeTheBuiltCheck() {
        // Neither is built, but QEMU would refuse the combination itself, so that is what is reported.
        assertEquals("Multifd is not compatible with compress",
                refusal(() -> MigrationConfig.validated(new MigrationConfig(Set.of(MigrationCapability.COMPRESS, MigrationCapability.MULTIFD), 300, 1))));
        assertEquals("Zero copy only available for non-compressed non-TLS multifd migration",
                refusal(() -> MigrationConfig.defaults().withCapability(MigrationCapability.ZERO_COPY_SEND)));
        assertEquals("Postcopy preempt requires postcopy-ram",
                refusal(() -> MigrationConfig.defaults().withCapability(MigrationCapability.POSTCOPY_PREEMPT)));
        assertEquals("Background-snapshot is not compatible with return-path",
                refusal(() -> MigrationConfig.defaults().withCapability(MigrationCapability.RETURN_PATH).withCapability(MigrationCapability.BACKGROUND_SNAPSHOT)));
    }

    /** Both orders measured on QEMU 7.2.22 through QMP: one text, whichever comes second is refused. */
    @Test
    void zeroCopySendNeedsMultifdWithoutCompressionWhicheverIsSetFirst() throws MigrationException {
        var multifd = MigrationConfig.defaults().withCapability(MigrationCapability.MULTIFD);
        var zeroCopy = multifd.withCapability(MigrationCapability.ZERO_COPY_SEND);
        assertTrue(zeroCopy.has(MigrationCapability.ZERO_COPY_SEND));
        assertEquals("Zero copy only available for non-compressed non-TLS multifd migration",
                refusal(() -> zeroCopy.withParameter("multifd-compression", "zlib")));
        assertEquals("Zero copy only available for non-compressed non-TLS multifd migration",
                refusal(() -> multifd.withParameter("multifd-compression", "zstd").withCapability(MigrationCapability.ZERO_COPY_SEND)));
        assertEquals("none", zeroCopy.withParameter("multifd-compression", "none").text(MigrationParameter.MULTIFD_COMPRESSION));
    }

    @Test
    void downtimeLimitAndMaxBandwidthAreSet() throws MigrationException {
        var c = MigrationConfig.defaults().withParameter("downtime-limit", "2000000").withParameter("max-bandwidth", "0");
        assertEquals(2_000_000, c.downtimeLimitMs());
        assertEquals(0, c.maxBandwidth());
        assertEquals(Long.MAX_VALUE,
                MigrationConfig.defaults().withParameter("max-bandwidth", Long.toString(Long.MAX_VALUE)).maxBandwidth());
    }

    @Test
    void badValuesOfBuiltParametersGetQemusText() {
        var d = MigrationConfig.defaults();
        assertEquals("Parameter 'downtime_limit' expects an integer in the range of 0 to (2000 * 1000) ms",
                refusal(() -> d.withParameter("downtime-limit", "-1")));
        assertEquals("Parameter 'downtime_limit' expects an integer in the range of 0 to (2000 * 1000) ms",
                refusal(() -> d.withParameter("downtime-limit", "2000001")));
        assertEquals("Parameter 'max_bandwidth' expects an integer in the range of 0 to 9223372036854775807 bytes/second",
                refusal(() -> d.withParameter("max-bandwidth", "-1")));
        assertEquals("Invalid parameter type for 'max-bandwidth', expected: integer",
                refusal(() -> d.withParameter("max-bandwidth", "fast")));
    }

    @Test
    void unbuiltParametersAreJudgedFirstThenRefused() {
        var d = MigrationConfig.defaults();
        assertEquals("Parameter 'multifd_channels' expects a value between 1 and 255",
                refusal(() -> d.withParameter("multifd-channels", "0")));
        assertEquals("Parameter 'multifd-compression' does not accept value 'lz4'",
                refusal(() -> d.withParameter("multifd-compression", "lz4")));
        assertEquals("parameter block-incremental is not built yet in livemig (only its default false is accepted)",
                refusal(() -> d.withParameter("block-incremental", "true")));
    }

    @Test
    void unbuiltParametersAreAcceptedAtTheirDefaultAndInertOnesAtAnyValue() throws MigrationException {
        // what libvirt sends before every plain migration, and what changes nothing on a machine without NICs
        var d = MigrationConfig.defaults().withParameter("tls-creds", "").withParameter("tls-hostname", "")
                .withParameter("tls-authz", "").withParameter("block-incremental", "false")
                .withParameter("announce-rounds", "9").withParameter("announce-initial", "50");
        assertEquals("9", d.text(MigrationParameter.ANNOUNCE_ROUNDS));
        assertEquals("", d.text(MigrationParameter.TLS_CREDS));
    }

    @Test
    void throttleParametersAreKeptAndJudgedTogetherAsQemuDoes() throws MigrationException {
        var d = MigrationConfig.defaults();
        assertEquals(20, d.longValue(MigrationParameter.CPU_THROTTLE_INITIAL));
        assertEquals("Parameter 'max_cpu_throttle' expects an integer in the range of cpu_throttle_initial to 99",
                refusal(() -> d.withParameter("max-cpu-throttle", "19")), "below the default initial 20");
        var low = d.withParameter("cpu-throttle-initial", "10").withParameter("max-cpu-throttle", "15");
        assertEquals(15, low.longValue(MigrationParameter.MAX_CPU_THROTTLE));
        assertEquals("Parameter 'max_cpu_throttle' expects an integer in the range of cpu_throttle_initial to 99",
                refusal(() -> low.withParameter("cpu-throttle-initial", "50")), "raising initial above the max");
        var tail = d.withParameter("cpu-throttle-tailslow", "on");
        assertTrue(tail.booleanValue(MigrationParameter.CPU_THROTTLE_TAILSLOW));
        assertEquals("true", tail.text(MigrationParameter.CPU_THROTTLE_TAILSLOW));
        assertEquals("50", d.text(MigrationParameter.THROTTLE_TRIGGER_THRESHOLD));
        assertEquals(List.of(), List.copyOf(d.tuned().keySet()));
    }

    @Test
    void unknownParameterIsNamed() {
        assertEquals("unknown parameter downtime_limit",
                refusal(() -> MigrationConfig.defaults().withParameter("downtime_limit", "300")));
    }
}
