package dev.livemig.migration;

import dev.livemig.cpr.CprIncoming;
import dev.livemig.machine.RunState;
import dev.livemig.transport.HandshakeGate;
import dev.livemig.transport.MigrationUri;
import dev.livemig.wire.MigrationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Parameter mode cpr-transfer (format reference §16): the old instance hands its RAM's memory over to the new one by
 * descriptor on the cpr channel, waits until the new one has mapped it and listens, then sends only the device state
 * on the main channel. No page is copied, and the guest runs on in the new instance with every write it made.
 */
class CprTransferTest {
    private static final long RAM = 32 << 20;
    private static final MigrationConfig CPR_TRANSFER = cprTransfer();

    @TempDir
    Path dir;

    @Test
    void aRunningGuestContinuesInANewInstanceThatMapsItsMemoryWithoutAPageCopied() throws Exception {
        Path cprPath = dir.resolve("cpr.sock");
        MigrationUri main = MigrationUri.parse("unix:" + dir.resolve("main.sock"));
        var events = new CopyOnWriteArrayList<MigrationEvent>();
        try (LiveGuest source = LiveGuest.overMemfd(RAM, 20_000);
             CprIncoming.Listener cprListener = CprIncoming.listen(cprPath)) {
            source.start();
            source.awaitWrites(2_000);
            var migration = new Migration(source.machine, CPR_TRANSFER, events::add);
            migration.start(main, MigrationUri.parse("unix:" + cprPath));
            try (CprIncoming cpr = cprListener.accept(20_000);
                 LiveGuest restarted = LiveGuest.overHandedOver(cpr, RAM)) {
                assertTrue(source.machine.runState().isRunning(), "the old instance runs on while the new one maps its memory");
                var incoming = new IncomingMigration(restarted.machine, MigrationConfig.defaults(), true, e -> { });
                incoming.listen(main, HandshakeGate.DEFAULT, cpr);

                assertEquals(MigrationStatus.COMPLETED, migration.awaitFinished(60, TimeUnit.SECONDS), migration.info().toJson().toString());
                assertEquals(MigrationStatus.COMPLETED, incoming.awaitFinished(60, TimeUnit.SECONDS), String.valueOf(incoming.error()));
                var ram = migration.info().ram();
                assertEquals(0, ram.normal() + ram.duplicate(), "no page went: " + migration.info().toJson());
                assertTrue(ram.transferred() < 64 << 10, "the block list and the devices only: " + ram.transferred());
                assertEquals(RunState.POSTMIGRATE, source.machine.runState());
                long writes = source.cpu.writes;
                assertEquals(writes, restarted.cpu.writes, "the cpu device came in the stream");
                assertEquals(writes, restarted.counterSum(), "the memory handed over holds every write, none doubled");

                restarted.dirtyRate(20_000);
                restarted.start();
                restarted.awaitWrites(writes + 2_000);
                restarted.machine.pause();
                assertEquals(restarted.cpu.writes, restarted.counterSum(), "the guest runs on in the new instance");
            }
        }
        assertTrue(events.stream().anyMatch(e -> e instanceof MigrationEvent.Stop), events.toString());
    }

    /** The moment the old instance still owns everything: until the main channel connects, it has not even paused. */
    @Test
    void aNewInstanceThatDiesAfterTakingTheMemoryLeavesTheOldOneRunningItsGuest() throws Exception {
        Path cprPath = dir.resolve("cpr.sock");
        try (LiveGuest source = LiveGuest.overMemfd(RAM, 20_000);
             CprIncoming.Listener cprListener = CprIncoming.listen(cprPath)) {
            source.start();
            source.awaitWrites(1_000);
            var migration = new Migration(source.machine, CPR_TRANSFER, e -> { });
            migration.start(MigrationUri.parse("unix:" + dir.resolve("never-listening.sock")), MigrationUri.parse("unix:" + cprPath));
            try (CprIncoming cpr = cprListener.accept(20_000); Arena arena = Arena.ofShared()) {
                cpr.ramBlock(arena, "ram", RAM); // it maps the memory, then fails before it listens
            }
            assertEquals(MigrationStatus.FAILED, migration.awaitFinished(60, TimeUnit.SECONDS));
            assertTrue(migration.info().errorDesc().contains("never-listening.sock"), migration.info().errorDesc());
            assertEquals(RunState.RUNNING, source.machine.runState(), "never paused");
            long before = source.writes();
            source.awaitWrites(before + 1_000);
            source.machine.pause();
            assertEquals(source.cpu.writes, source.counterSum(), "its memory is whole");
        }
    }

    /**
     * The moment after the old instance stopped: a new one that fails its load must leave the memory alone (it is the
     * old instance's own), and the old instance learns of the failure and runs on — by the return path, or without
     * one by the refusal byte a failing destination writes on a unix socket.
     */
    @org.junit.jupiter.params.ParameterizedTest(name = "return-path {0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {true, false})
    void aNewInstanceThatFailsItsLoadLeavesTheMemoryToTheOldOneWhichRunsOn(boolean returnPath) throws Exception {
        Path cprPath = dir.resolve("cpr.sock");
        MigrationUri main = MigrationUri.parse("unix:" + dir.resolve("main.sock"));
        try (LiveGuest source = LiveGuest.overMemfd(RAM, 20_000);
             CprIncoming.Listener cprListener = CprIncoming.listen(cprPath)) {
            source.start();
            source.awaitWrites(2_000);
            MigrationConfig config = returnPath ? CPR_TRANSFER.withCapability(MigrationCapability.RETURN_PATH) : CPR_TRANSFER;
            var migration = new Migration(source.machine, config, e -> { });
            migration.start(main, MigrationUri.parse("unix:" + cprPath));
            try (CprIncoming cpr = cprListener.accept(20_000); Arena arena = Arena.ofShared();
                 // another machine type: the configuration record does not match, the load fails
                 var other = dev.livemig.machine.Machine.builder("another-machine").ram(cpr.ramBlock(arena, "ram", RAM)).build()) {
                var incoming = new IncomingMigration(other, returnPath ? MigrationConfig.defaults().withCapability(MigrationCapability.RETURN_PATH)
                        : MigrationConfig.defaults(), true, e -> { });
                incoming.listen(main, HandshakeGate.DEFAULT, cpr);
                assertEquals(MigrationStatus.FAILED, incoming.awaitFinished(60, TimeUnit.SECONDS));
                assertEquals(MigrationStatus.FAILED, migration.awaitFinished(60, TimeUnit.SECONDS), migration.info().toJson().toString());
            }
            assertEquals(RunState.RUNNING, source.machine.runState(), "the old instance runs its guest again");
            long before = source.writes();
            source.awaitWrites(before + 1_000);
            source.machine.pause();
            assertEquals(source.cpu.writes, source.counterSum(), "its memory is whole: the failed load discarded none of it");
        }
    }

    @Test
    void cprTransferRefusesWhatQemuRefusesWithItsTexts() throws Exception {
        MigrationUri cpr = MigrationUri.parse("unix:" + dir.resolve("cpr.sock"));
        try (LiveGuest memfd = LiveGuest.overMemfd(1 << 20, 0); LiveGuest anonymous = new LiveGuest(1 << 20, 0)) {
            anonymous.start();
            assertEquals("Migration requires streamable transport (eg unix)", refusal(memfd,
                    MigrationUri.parse("file:" + dir.resolve("x.mig")), cpr));
            assertEquals("missing 'cpr' migration channel", refusal(memfd, MigrationUri.parse("unix:" + dir.resolve("m.sock")), null));
            assertEquals("bad cpr channel address; must be unix", refusal(memfd, MigrationUri.parse("unix:" + dir.resolve("m.sock")),
                    MigrationUri.parse("tcp:127.0.0.1:1")));
            assertTrue(refusal(anonymous, MigrationUri.parse("unix:" + dir.resolve("m.sock")), cpr).startsWith(
                    "Memory region ram is not compatible with CPR. share=on is required for memory-backend objects, and"
                            + " aux-ram-share=on is required."));
            assertEquals(RunState.RUNNING, anonymous.machine.runState());
        }
    }

    @Test
    void aNewInstanceRefusesMemoryThatIsTooSmallOrNotHandedOver() throws Exception {
        Path cprPath = dir.resolve("cpr.sock");
        try (LiveGuest source = LiveGuest.overMemfd(1 << 20, 0);
             CprIncoming.Listener cprListener = CprIncoming.listen(cprPath)) {
            source.start();
            var migration = new Migration(source.machine, CPR_TRANSFER, e -> { });
            migration.start(MigrationUri.parse("unix:" + dir.resolve("main.sock")), MigrationUri.parse("unix:" + cprPath));
            try (CprIncoming cpr = cprListener.accept(20_000); Arena arena = Arena.ofShared()) {
                var small = assertThrows(java.io.IOException.class, () -> cpr.ramBlock(arena, "ram", 2 << 20));
                assertTrue(small.getMessage().contains("holds 1048576 bytes, not 2097152"), small.getMessage());
                var missing = assertThrows(java.io.IOException.class, () -> cpr.ramBlock(arena, "vga.vram", 1 << 20));
                assertTrue(missing.getMessage().contains("hands over no memory for RAM block vga.vram (it names [ram/0])"),
                        missing.getMessage());
            }
            assertEquals(MigrationStatus.FAILED, migration.awaitFinished(60, TimeUnit.SECONDS));
            assertEquals(RunState.RUNNING, source.machine.runState());
        }
    }

    private static String refusal(LiveGuest guest, MigrationUri main, MigrationUri cpr) {
        var m = new Migration(guest.machine, CPR_TRANSFER, e -> { });
        return assertThrows(MigrationException.class, () -> m.start(main, cpr)).getMessage();
    }

    private static MigrationConfig cprTransfer() {
        try {
            return new MigrationConfig(EnumSet.noneOf(MigrationCapability.class), 300, 1L << 30).withParameter("mode", "cpr-transfer");
        } catch (MigrationConfigException e) {
            throw new AssertionError(e);
        }
    }
}
