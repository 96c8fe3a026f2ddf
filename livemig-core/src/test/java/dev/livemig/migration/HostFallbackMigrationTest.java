package dev.livemig.migration;

import dev.livemig.machine.HostFeatures;
import dev.livemig.machine.KernelFeature;
import dev.livemig.savevm.StandardSections;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Every kernel feature switched off in turn ({@code livemig.disable}), on both ends: the fallback is taken and a
 * running guest that reports its writes with markDirty still arrives byte for byte, on any host.
 */
class HostFallbackMigrationTest {
    private final LiveGuests guests = new LiveGuests(16L << 20);

    @AfterEach
    void release() throws Exception {
        guests.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {"userfaultfd-wp", "pagemap-scan", "populate-write", "all"})
    void aRunningGuestArrivesIdenticalWithTheFeatureSwitchedOff(String disabled) throws Exception {
        HostFeatures features = HostFeatures.parse(disabled);
        var source = guests.guest(20_000, features);
        var dest = guests.guest(0, features);
        source.start();
        source.awaitWrites(1_000);
        // held while active until the guest has written on (pre-switchover would stop it): writes only the
        // fallback can report
        var hold = new HoldingDevice(HoldingDevice.Phase.ITERATE);
        source.machine.devices().registerLive("hold", 0, 1, hold);
        dest.machine.devices().registerLive("hold", 0, 1, new HoldingDevice(HoldingDevice.Phase.NONE));
        var config = new MigrationConfig(Set.of(), 300, 1L << 30);
        var pair = guests.migrate(source, dest, config, config, "tcp:127.0.0.1:0");
        hold.awaitEntered();
        source.awaitWrites(source.writes() + 2_000);
        hold.release();
        assertEquals(MigrationStatus.COMPLETED, pair.source().awaitFinished(60, TimeUnit.SECONDS), pair.source().info().toString());
        assertEquals(MigrationStatus.COMPLETED, pair.destination().awaitFinished(30, TimeUnit.SECONDS));
        LiveGuests.assertSameGuest(source, dest);
        String tracker = StandardSections.of(source.machine).ram().trackerName();
        if (!features.allows(KernelFeature.USERFAULTFD_WP) || !features.allows(KernelFeature.PAGEMAP_SCAN)) {
            assertTrue(tracker.startsWith("explicit") && tracker.contains("switched off"), tracker);
        }
    }

    @Test
    void zeroCopySendWithMsgZerocopySwitchedOffFailsAsOnAKernelWithoutItAndTheSourceRunsOn() throws Exception {
        var source = guests.guest(20_000, HostFeatures.parse("msg-zerocopy"));
        var dest = guests.guest(0);
        source.start();
        var pair = guests.migrate(source, dest, new MigrationConfig(Set.of(MigrationCapability.MULTIFD, MigrationCapability.ZERO_COPY_SEND), 300, 1L << 30),
                "tcp:127.0.0.1:0");
        assertEquals(MigrationStatus.FAILED, pair.source().awaitFinished(30, TimeUnit.SECONDS));
        assertEquals("Zero copy send feature not detected in host kernel", pair.source().info().errorDesc());
        long before = source.writes();
        source.awaitWrites(before + 100); // the source keeps running
        assertTrue(source.machine.runState().isRunning());
    }
}
