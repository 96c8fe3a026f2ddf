package dev.livemig.migration;

import dev.livemig.machine.RunState;
import dev.livemig.testing.Await;
import dev.livemig.transport.MigrationUri;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** Live precopy between two machines in this JVM, over real loopback sockets. */
class MigrationTest {
    private static final long RAM = 16L << 20;
    private static final MigrationConfig FAST = new MigrationConfig(Set.of(), 300, 1L << 30);

    @TempDir
    Path dir;

    private final LiveGuests guests = new LiveGuests(RAM);

    @AfterEach
    void release() throws Exception {
        guests.close();
    }

    private LiveGuest guest(long pagesPerSecond) {
        return guests.guest(pagesPerSecond);
    }

    private LiveGuests.Pair migrate(LiveGuest from, LiveGuest to, MigrationConfig config, String uri) throws Exception {
        return guests.migrate(from, to, config, uri);
    }

    private static void assertSameGuest(LiveGuest source, LiveGuest dest) {
        LiveGuests.assertSameGuest(source, dest);
    }

    @Test
    void aRunningGuestMovesOverTcpWithEveryWriteAndResumesThere() throws Exception {
        var source = guest(20_000);
        var dest = guest(20_000);
        source.start();
        source.awaitWrites(1_000); // running and dirtying pages before the migration starts
        var pair = migrate(source, dest, FAST, "tcp:127.0.0.1:0");
        assertEquals(MigrationStatus.COMPLETED, pair.source().awaitFinished(60, TimeUnit.SECONDS), pair.source().info().toString());
        assertEquals(MigrationStatus.COMPLETED, pair.destination().awaitFinished(10, TimeUnit.SECONDS), pair.destination().error());
        assertEquals(RunState.POSTMIGRATE, source.machine.runState());
        assertEquals(RunState.RUNNING, dest.machine.runState(), "the source was running, so the destination runs");
        dest.machine.pause();
        // the destination resumed and went on writing: compare what the source left with a fresh reload is not
        // possible, but the invariant between the cpu device and RAM must still hold
        assertEquals(dest.cpu.writes, dest.counterSum());
        var statuses = pair.sourceEvents().stream().filter(e -> e instanceof MigrationEvent.StatusChanged)
                .map(e -> ((MigrationEvent.StatusChanged) e).status()).toList();
        // QEMU 7.2 passes through device only after pre-switchover
        assertEquals(List.of(MigrationStatus.SETUP, MigrationStatus.ACTIVE, MigrationStatus.COMPLETED), statuses);
        var info = pair.source().info();
        assertTrue(info.ram().transferred() >= RAM / 2, "at least the non-zero pages went out");
        assertTrue(info.downtimeMs() >= 0 && info.totalTimeMs() >= info.downtimeMs());
        assertTrue(info.ram().dirtySyncCount() >= 2);
    }

    /** The build runs this class twice: machines asking for huge pages (the default) and not (-Dlivemig.disable=thp). */
    @Test
    void guestRamIsInHugePagesExactlyWhenTheRunAsksForThemAndMovesEitherWay() throws Exception {
        boolean asked = dev.livemig.machine.HostFeatures.fromSystemProperties()
                .allows(dev.livemig.machine.KernelFeature.TRANSPARENT_HUGEPAGES);
        boolean given = asked && dev.livemig.host.HostChecks.advisedMemoryGetsHugePages().orElse(false);
        var source = guest(20_000);
        var dest = guest(20_000);
        var ram = source.machine.ramBlocks().getFirst();
        assertEquals(asked && java.nio.file.Files.exists(Path.of("/sys/kernel/mm/transparent_hugepage/enabled")),
                ram.hugePagesAdvised());
        source.start();
        source.awaitWrites(1_000);
        if (given) {
            assertTrue(ram.hugePageBytes() > 0, "a running guest's RAM in huge pages");
        }
        var pair = migrate(source, dest, FAST, "tcp:127.0.0.1:0");
        assertEquals(MigrationStatus.COMPLETED, pair.source().awaitFinished(60, TimeUnit.SECONDS), pair.source().info().toString());
        assertEquals(MigrationStatus.COMPLETED, pair.destination().awaitFinished(10, TimeUnit.SECONDS), pair.destination().error());
        dest.machine.pause();
        assertEquals(dest.cpu.writes, dest.counterSum(), "every write the source made arrived");
        if (given) {
            assertTrue(dest.machine.ramBlocks().getFirst().hugePageBytes() > 0, "the destination's RAM in huge pages");
        }
    }

    @Test
    void writesTheApplicationNeverReportsAreCaughtByTheTransparentTracker() throws Exception {
        dev.livemig.host.HostAssumptions.assumeUserfaultfdWriteProtect(); // without it only markDirty reports writes
        dev.livemig.host.HostAssumptions.assumePagemapScan();
        var source = guest(50_000);
        source.reportWrites(false);
        var dest = guest(0);
        source.start();
        source.awaitWrites(1_000);
        // held while active until the guest has written on (pre-switchover would stop it): pages written during
        // the migration that no markDirty reported, which only the transparent tracker can find
        var holdInIterate = new HoldingDevice(HoldingDevice.Phase.ITERATE);
        source.machine.devices().registerLive("hold", 0, 1, holdInIterate);
        dest.machine.devices().registerLive("hold", 0, 1, new HoldingDevice(HoldingDevice.Phase.NONE));
        var incoming = new IncomingMigration(dest.machine, FAST, false, e -> { });
        var m = new Migration(source.machine, FAST, e -> { });
        m.start(incoming.listen(MigrationUri.parse("tcp:127.0.0.1:0")));
        holdInIterate.awaitEntered();
        source.awaitWrites(source.writes() + 2_000);
        holdInIterate.release();
        assertEquals(MigrationStatus.COMPLETED, m.awaitFinished(60, TimeUnit.SECONDS), m.info().toJson().toString());
        assertEquals(MigrationStatus.COMPLETED, incoming.awaitFinished(10, TimeUnit.SECONDS));
        String tracker = dev.livemig.savevm.StandardSections.of(source.machine).ram().trackerName();
        assertTrue(tracker.startsWith("userfaultfd"), tracker);
        assertTrue(source.cpu.writes > 1000, "the guest wrote during the migration: " + source.cpu.writes);
        assertSameGuest(source, dest);
    }

    @Test
    void aPausedGuestArrivesIdenticalOverUnixAndStaysPaused() throws Exception {
        var source = guest(0);
        var dest = guest(0);
        var pair = migrate(source, dest, FAST, "unix:" + dir.resolve("m.sock"));
        assertEquals(MigrationStatus.COMPLETED, pair.source().awaitFinished(60, TimeUnit.SECONDS));
        assertEquals(MigrationStatus.COMPLETED, pair.destination().awaitFinished(10, TimeUnit.SECONDS));
        assertSameGuest(source, dest);
        assertEquals(RunState.PAUSED, dest.machine.runState());
    }

    @Test
    void returnPathAndSwitchoverAckComplete() throws Exception {
        var source = guest(5_000);
        var dest = guest(0);
        source.start();
        var config = FAST.withCapability(MigrationCapability.RETURN_PATH).withCapability(MigrationCapability.SWITCHOVER_ACK);
        var pair = migrate(source, dest, config, "tcp:127.0.0.1:0");
        assertEquals(MigrationStatus.COMPLETED, pair.source().awaitFinished(60, TimeUnit.SECONDS), pair.source().info().toJson().toString());
        assertEquals(MigrationStatus.COMPLETED, pair.destination().awaitFinished(10, TimeUnit.SECONDS));
    }

    @Test
    void cancelDuringActiveKeepsTheSourceRunningWithItsState() throws Exception {
        var source = guest(20_000);
        var dest = guest(0);
        source.start();
        var slow = new MigrationConfig(Set.of(), 1, 4L << 20); // 4 MiB/s and 1 ms: it cannot finish soon
        var pair = migrate(source, dest, slow, "tcp:127.0.0.1:0");
        LiveGuests.awaitStatus(pair.source(), MigrationStatus.ACTIVE);
        pair.source().cancel();
        assertEquals(MigrationStatus.CANCELLED, pair.source().awaitFinished(10, TimeUnit.SECONDS));
        assertEquals(RunState.RUNNING, source.machine.runState());
        source.awaitWrites(source.writes() + 100); // the guest still runs
        source.machine.pause();
        assertEquals(source.cpu.writes, source.counterSum(), "no byte of the source was touched");
        assertNotEquals(MigrationStatus.COMPLETED, pair.destination().awaitFinished(10, TimeUnit.SECONDS));
        assertEquals(-1, dest.ram.memory().mismatch(java.lang.foreign.MemorySegment.ofArray(new byte[(int) RAM])),
                "the destination discarded what it had received");
    }

    @Test
    void cancelDuringSetupEndsCancelledWithTheSourceRunning() throws Exception {
        var source = guest(5_000);
        var dest = guest(0);
        source.start();
        var inSetup = new java.util.concurrent.CountDownLatch(1);
        var release = new java.util.concurrent.CountDownLatch(1);
        source.machine.devices().registerLive("stall", 0, 1, new dev.livemig.machine.LiveStateHandler() {
            @Override
            public void saveSetup(dev.livemig.wire.StreamWriter out) {
                inSetup.countDown();
                try {
                    release.await(10, TimeUnit.SECONDS); // a device slow to prepare
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }

            @Override
            public boolean saveIterate(dev.livemig.wire.StreamWriter out, long budget) {
                return true;
            }

            @Override
            public void saveCompletePrecopy(dev.livemig.wire.StreamWriter out) {
            }

            @Override
            public Pending pendingEstimate() {
                return Pending.NONE;
            }

            @Override
            public void loadState(dev.livemig.wire.StreamReader in, int versionId) {
            }
        });
        var pair = migrate(source, dest, FAST, "tcp:127.0.0.1:0");
        assertTrue(inSetup.await(10, TimeUnit.SECONDS));
        assertEquals(MigrationStatus.SETUP, pair.source().status());
        pair.source().cancel();
        release.countDown();
        assertEquals(MigrationStatus.CANCELLED, pair.source().awaitFinished(10, TimeUnit.SECONDS));
        assertEquals(RunState.RUNNING, source.machine.runState());
        var statuses = pair.sourceEvents().stream().filter(e -> e instanceof MigrationEvent.StatusChanged)
                .map(e -> ((MigrationEvent.StatusChanged) e).status()).toList();
        assertEquals(List.of(MigrationStatus.SETUP, MigrationStatus.CANCELLING, MigrationStatus.CANCELLED), statuses);
    }

    @Test
    void cancelInPreSwitchoverResumesTheSource() throws Exception {
        var source = guest(5_000);
        var dest = guest(0);
        source.start();
        var pair = migrate(source, dest, FAST.withCapability(MigrationCapability.PAUSE_BEFORE_SWITCHOVER), "tcp:127.0.0.1:0");
        LiveGuests.awaitStatus(pair.source(), MigrationStatus.PRE_SWITCHOVER);
        assertEquals(RunState.FINISH_MIGRATE, source.machine.runState(), "QEMU stops the guest before pre-switchover");
        pair.source().cancel();
        assertEquals(MigrationStatus.CANCELLED, pair.source().awaitFinished(10, TimeUnit.SECONDS));
        assertEquals(RunState.RUNNING, source.machine.runState());
    }

    @Test
    void aPausedGuestWhoseSwitchoverFailsIsLeftInPostmigrateAsQemuLeavesIt() throws Exception {
        var source = guest(0); // never started: paused
        var dest = guest(0);
        var hold = new HoldingDevice(HoldingDevice.Phase.COMPLETE);
        source.machine.devices().registerLive("hold", 0, 1, hold);
        dest.machine.devices().registerLive("hold", 0, 1, new HoldingDevice(HoldingDevice.Phase.NONE));
        // with the return path the source waits for the destination's SHUT, which a cancelled one never sends
        var pair = migrate(source, dest, FAST.withCapability(MigrationCapability.RETURN_PATH), "tcp:127.0.0.1:0");
        hold.awaitEntered();
        assertEquals(RunState.FINISH_MIGRATE, source.machine.runState());
        pair.destination().cancel();
        hold.release();
        assertEquals(MigrationStatus.FAILED, pair.source().awaitFinished(30, TimeUnit.SECONDS), pair.source().info().toString());
        assertEquals(RunState.POSTMIGRATE, source.machine.runState(), "QEMU's migration_iteration_finish");
        assertTrue(pair.sourceEvents().stream().noneMatch(e -> e instanceof MigrationEvent.Stop || e instanceof MigrationEvent.Resume),
                "the guest was paused before: neither stopped nor resumed by the migration: " + pair.sourceEvents());
    }

    @Test
    void aRunningGuestWhoseSwitchoverFailsIsRestartedAfterTheFailureIsAnnouncedAsInQemu() throws Exception {
        var source = guest(2_000);
        var dest = guest(0);
        source.start();
        var hold = new HoldingDevice(HoldingDevice.Phase.COMPLETE);
        source.machine.devices().registerLive("hold", 0, 1, hold);
        dest.machine.devices().registerLive("hold", 0, 1, new HoldingDevice(HoldingDevice.Phase.NONE));
        var pair = migrate(source, dest, FAST.withCapability(MigrationCapability.RETURN_PATH), "tcp:127.0.0.1:0");
        hold.awaitEntered();
        pair.destination().cancel();
        hold.release();
        assertEquals(MigrationStatus.FAILED, pair.source().awaitFinished(30, TimeUnit.SECONDS), pair.source().info().toString());
        assertEquals(RunState.RUNNING, source.machine.runState());
        var order = pair.sourceEvents().stream()
                .filter(e -> e instanceof MigrationEvent.Stop || e instanceof MigrationEvent.Resume
                        || e instanceof MigrationEvent.StatusChanged s && s.status() == MigrationStatus.FAILED)
                .map(e -> e.getClass().getSimpleName()).toList();
        assertEquals(List.of("Stop", "StatusChanged", "Resume"), order, pair.sourceEvents().toString());
    }

    @Test
    void continueFromPreSwitchoverCompletes() throws Exception {
        var source = guest(5_000);
        var dest = guest(0);
        source.start();
        var pair = migrate(source, dest, FAST.withCapability(MigrationCapability.PAUSE_BEFORE_SWITCHOVER), "tcp:127.0.0.1:0");
        LiveGuests.awaitStatus(pair.source(), MigrationStatus.PRE_SWITCHOVER);
        assertThrows(dev.livemig.wire.MigrationException.class, () -> pair.source().continueFrom(MigrationStatus.ACTIVE));
        pair.source().continueFrom(MigrationStatus.PRE_SWITCHOVER);
        assertEquals(MigrationStatus.COMPLETED, pair.source().awaitFinished(30, TimeUnit.SECONDS));
        assertEquals(MigrationStatus.COMPLETED, pair.destination().awaitFinished(10, TimeUnit.SECONDS));
    }

    /**
     * Without a return path nothing confirms the load, but a destination that refuses the stream resets the
     * connection and the source, which wrote its last byte long before, waits for the destination's close: a
     * device the destination does not know comes last, after all of RAM went over multifd channels and the main
     * stream fit in the socket buffers, and the migration fails on both ends, the source running again.
     */
    @org.junit.jupiter.params.ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"tcp", "unix"}) // refused by a reset; by a byte back
    void withoutAReturnPathADestinationThatRefusesTheLastSectionFailsTheSourceToo(String transport) throws Exception {
        var source = guest(2_000);
        var dest = guest(0);
        source.machine.devices().register("only-here", 0, LiveGuest.Cpu.DESCRIPTION, new LiveGuest.Cpu());
        source.start();
        var config = FAST.withCapability(MigrationCapability.MULTIFD).withParameter("multifd-channels", "2");
        var pair = migrate(source, dest, config, transport.equals("tcp") ? "tcp:127.0.0.1:0" : "unix:" + dir.resolve("refused.sock"));
        assertEquals(MigrationStatus.FAILED, pair.destination().awaitFinished(30, TimeUnit.SECONDS));
        assertTrue(pair.destination().error().contains("only-here"), pair.destination().error());
        assertEquals(MigrationStatus.FAILED, pair.source().awaitFinished(30, TimeUnit.SECONDS), pair.source().info().toString());
        assertTrue(pair.source().info().errorDesc().contains("refused"), pair.source().info().errorDesc());
        assertEquals(RunState.RUNNING, source.machine.runState());
    }

    @Test
    void aDeadDestinationFailsTheMigrationAndASecondOneSucceeds() throws Exception {
        var source = guest(20_000);
        var dead = guest(0);
        source.start();
        var slow = new MigrationConfig(Set.of(), 1, 8L << 20);
        var pair = migrate(source, dead, slow, "tcp:127.0.0.1:0");
        LiveGuests.awaitTransferred(pair.source(), 1L << 20);
        pair.destination().cancel(); // the destination goes away mid-stream
        assertEquals(MigrationStatus.FAILED, pair.source().awaitFinished(30, TimeUnit.SECONDS));
        assertNotNull(pair.source().info().errorDesc());
        assertEquals(RunState.RUNNING, source.machine.runState());

        var fresh = guest(0);
        var again = migrate(source, fresh, FAST, "tcp:127.0.0.1:0");
        assertEquals(MigrationStatus.COMPLETED, again.source().awaitFinished(60, TimeUnit.SECONDS), again.source().info().toJson().toString());
        assertEquals(MigrationStatus.COMPLETED, again.destination().awaitFinished(10, TimeUnit.SECONDS));
        fresh.machine.pause();
        assertEquals(fresh.cpu.writes, fresh.counterSum());
    }

    @Test
    void aGuestDirtyingFasterThanTheBandwidthKeepsIteratingUntilItSlowsDown() throws Exception {
        var source = guest(20_000);
        var dest = guest(0);
        source.start();
        var narrow = new MigrationConfig(Set.of(), 300, 8L << 20); // 8 MiB/s against ~80 MB/s of dirtying
        var pair = migrate(source, dest, narrow, "tcp:127.0.0.1:0");
        LiveGuests.awaitStatus(pair.source(), MigrationStatus.ACTIVE);
        Await.until("an expected downtime above the limit after three dirty syncs", () -> {
            MigrationInfo info = pair.source().info();
            assertEquals(MigrationStatus.ACTIVE, info.status(), "it must not switch over while RAM is dirtied this fast: " + info.toJson());
            return info.expectedDowntimeMs() > 300 && info.ram().dirtySyncCount() >= 3;
        }, () -> pair.source().info().toJson());
        assertEquals(MigrationStatus.ACTIVE, pair.source().status());
        assertTrue(pair.source().info().ram().dirtyPagesRate() > 0);
        source.dirtyRate(0); // the guest calms down: now it converges
        assertEquals(MigrationStatus.COMPLETED, pair.source().awaitFinished(60, TimeUnit.SECONDS), pair.source().info().toJson().toString());
        assertEquals(MigrationStatus.COMPLETED, pair.destination().awaitFinished(10, TimeUnit.SECONDS));
        dest.machine.pause();
        assertEquals(dest.cpu.writes, dest.counterSum());
    }

    @Test
    void autoConvergeThrottlesAGuestThatDirtiesFasterThanTheBandwidthUntilItConverges() throws Exception {
        var source = guest(8_000); // 32 MB/s of dirtying against 16 MiB/s of bandwidth: never converges alone
        var dest = guest(0);
        source.start();
        // held before the switchover: the throttle that made it converge is still on there, and is seen for sure
        var config = new MigrationConfig(Set.of(MigrationCapability.AUTO_CONVERGE, MigrationCapability.PAUSE_BEFORE_SWITCHOVER), 300, 16L << 20)
                .withParameter("cpu-throttle-initial", "50")
                .withParameter("cpu-throttle-increment", "25");
        var pair = migrate(source, dest, config, "tcp:127.0.0.1:0");
        Await.until("the throttled migration to converge", () -> {
            MigrationInfo info = pair.source().info();
            assertFalse(info.status().isFinal(), "ended before the switchover: " + info.toJson());
            if (info.cpuThrottlePercentage() > 0) {
                assertEquals(info.cpuThrottlePercentage(),
                        info.toJson().number("cpu-throttle-percentage"), "query-migrate shows the throttle");
            }
            return info.status() == MigrationStatus.PRE_SWITCHOVER;
        }, () -> pair.source().info().toJson(), Duration.ofSeconds(60));
        MigrationInfo held = pair.source().info();
        assertTrue(held.cpuThrottlePercentage() >= 50, "the throttle was engaged: " + held.toJson());
        assertEquals(held.cpuThrottlePercentage(), held.toJson().number("cpu-throttle-percentage"), "query-migrate shows the throttle");
        pair.source().continueFrom(MigrationStatus.PRE_SWITCHOVER);
        assertEquals(MigrationStatus.COMPLETED, pair.source().awaitFinished(60, TimeUnit.SECONDS), pair.source().info().toJson().toString());
        assertFalse(source.machine.cpuThrottle().active(), "lifted when the migration ended");
        assertFalse(pair.source().info().toJson().has("cpu-throttle-percentage"));
        assertEquals(MigrationStatus.COMPLETED, pair.destination().awaitFinished(10, TimeUnit.SECONDS));
        dest.machine.pause();
        assertEquals(dest.cpu.writes, dest.counterSum(), "every write arrived exactly once");
    }

    @ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"2, true", "1, false"})
    void compressedPagesCarryARunningGuestExactly(int threads, boolean waitForThread) throws Exception {
        var source = guest(5_000);
        var dest = guest(0);
        source.start();
        var config = FAST.withCapability(MigrationCapability.COMPRESS)
                .withParameter("compress-threads", Integer.toString(threads))
                .withParameter("compress-wait-thread", Boolean.toString(waitForThread))
                .withParameter("decompress-threads", "2");
        var pair = migrate(source, dest, config, "tcp:127.0.0.1:0");
        assertEquals(MigrationStatus.COMPLETED, pair.source().awaitFinished(60, TimeUnit.SECONDS), pair.source().info().toJson().toString());
        assertEquals(MigrationStatus.COMPLETED, pair.destination().awaitFinished(10, TimeUnit.SECONDS), pair.destination().error());
        source.machine.pause();
        dest.machine.pause();
        assertSameGuest(source, dest);
        var stats = pair.source().info().compression();
        assertTrue(stats.pages() > 0, "pages went compressed: " + pair.source().info().toJson());
        assertTrue(stats.compressedSize() > 0 && stats.compressedSize() < stats.pages() * 4096L,
                "LiveGuest pages are mostly zero bytes, so they shrink: " + stats);
        assertTrue(pair.source().info().toJson().has("compression"));
    }

    @ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"xbzrle", "xbzrle,compress"})
    void xbzrleDeltasCarryARunningGuestExactly(String capabilities) throws Exception {
        var source = guest(20_000); // rewrites its pages faster than 16 MiB/s moves them: many passes
        var dest = guest(0);
        source.start();
        MigrationConfig config = new MigrationConfig(MigrationCapability.setOf(capabilities.split(",")), 300, 16L << 20)
                .withParameter("xbzrle-cache-size", Long.toString(4L << 20));
        var pair = migrate(source, dest, config, "tcp:127.0.0.1:0");
        Await.until("1000 pages sent as XBZRLE deltas", () -> {
            MigrationInfo info = pair.source().info();
            assertFalse(info.status().isFinal(), info.toJson().toString());
            return info.xbzrle() != null && info.xbzrle().pages() >= 1000;
        }, () -> pair.source().info().toJson());
        // QEMU resizes the cache of a running migration; the new one starts empty and pages miss once more
        long missesBefore = pair.source().info().xbzrle().cacheMiss();
        pair.source().retune(config.withParameter("xbzrle-cache-size", Long.toString(1L << 20)));
        Await.until("the cache resized to 1 MiB and missing again", () -> {
            MigrationInfo info = pair.source().info();
            assertFalse(info.status().isFinal(), info.toJson().toString());
            return info.xbzrle().cacheSize() == 1L << 20 && info.xbzrle().cacheMiss() != missesBefore;
        }, () -> pair.source().info().toJson());
        source.dirtyRate(0);
        assertEquals(MigrationStatus.COMPLETED, pair.source().awaitFinished(60, TimeUnit.SECONDS), pair.source().info().toJson().toString());
        assertEquals(MigrationStatus.COMPLETED, pair.destination().awaitFinished(10, TimeUnit.SECONDS), pair.destination().error());
        source.machine.pause();
        dest.machine.pause();
        assertSameGuest(source, dest);
        var x = pair.source().info().xbzrle();
        assertTrue(x.bytes() > 0 && x.encodingRate() > 10, "one long changed per page encodes tiny: " + x);
        assertEquals(1L << 20, pair.source().info().toJson().get("xbzrle-cache").orElseThrow().asObject().number("cache-size"));
    }

    @Test
    void migrationThreadsEndWithTheMigration() throws Exception {
        var source = guest(0);
        var dest = guest(0);
        var fdsBefore = LiveGuests.openFileDescriptors();
        var pair = migrate(source, dest, FAST.withCapability(MigrationCapability.RETURN_PATH), "tcp:127.0.0.1:0");
        assertEquals(MigrationStatus.COMPLETED, pair.source().awaitFinished(60, TimeUnit.SECONDS));
        pair.destination().awaitFinished(10, TimeUnit.SECONDS);
        LiveGuests.awaitReleased(fdsBefore); // threads end and sockets and listeners are closed
    }

    @Test
    void aCancelledMigrationReleasesItsThreadsAndSockets() throws Exception {
        var source = guest(20_000);
        var dest = guest(0);
        source.start();
        var fdsBefore = LiveGuests.openFileDescriptors();
        var pair = migrate(source, dest, new MigrationConfig(Set.of(), 1, 2L << 20), "tcp:127.0.0.1:0");
        LiveGuests.awaitTransferred(pair.source(), 256L << 10); // cancelled in mid-stream
        pair.source().cancel();
        assertEquals(MigrationStatus.CANCELLED, pair.source().awaitFinished(10, TimeUnit.SECONDS));
        pair.destination().awaitFinished(10, TimeUnit.SECONDS);
        LiveGuests.awaitReleased(fdsBefore);
    }
}
