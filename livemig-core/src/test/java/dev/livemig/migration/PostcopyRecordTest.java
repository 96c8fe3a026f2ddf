package dev.livemig.migration;

import dev.livemig.machine.RunState;
import dev.livemig.savevm.Snapshots;
import dev.livemig.transport.MigrationUri;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.EnumSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A livemig source postcopies into {@code livemig record} (the one livemig destination that takes postcopy
 * today: it runs no guest, so nothing faults): a guest writing throughout precopy, switched by
 * migrate-start-postcopy, arrives with every write exactly once.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class PostcopyRecordTest {
    private static final long RAM = 16L << 20;

    @TempDir
    Path dir;

    private final LiveGuests guests = new LiveGuests(RAM);

    @AfterEach
    void release() throws Exception {
        guests.close();
    }

    private static MigrationConfig postcopy(long maxBandwidth) {
        return new MigrationConfig(EnumSet.of(MigrationCapability.POSTCOPY_RAM), 300, maxBandwidth);
    }

    /** A recorder taking postcopy, listening, and the recording it makes into {@code file}. */
    private record Recording(MigrationUri at, Path file, CompletableFuture<StreamRecorder.Result> result) {
    }

    private Recording recording(String name) throws Exception {
        var recorder = new StreamRecorder(postcopy(MigrationConfig.DEFAULT_MAX_BANDWIDTH));
        MigrationUri at = recorder.listen(MigrationUri.parse("tcp:127.0.0.1:0"));
        Path file = dir.resolve(name);
        return new Recording(at, file, record(recorder, file));
    }

    private static CompletableFuture<StreamRecorder.Result> record(StreamRecorder recorder, Path file) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return recorder.record(file);
            } catch (Exception e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
    }

    @Test
    void aWritingGuestSwitchedToPostcopyIsRecordedWithEveryWriteOnce() throws Exception {
        LiveGuest source = guests.guest(20_000);
        source.start();
        source.awaitWrites(1_000);
        Recording rec = recording("postcopy.snap");
        // precopy held to 32 MiB/s, so that the switch comes while most of RAM is still to send
        var controller = MigrationController.builder(source.machine).config(postcopy(32L << 20)).build();
        Migration migration = controller.migrate(rec.at());
        LiveGuests.awaitTransferred(migration, 1 << 20);
        controller.startPostcopy();
        assertEquals(MigrationStatus.COMPLETED, migration.awaitFinished(60, TimeUnit.SECONDS), migration.info().toJson().toString());
        var info = migration.info();
        assertTrue(info.ram().postcopyBytes() > RAM / 4, "RAM went after the switch: " + info.toJson());
        assertTrue(info.ram().precopyBytes() > 0, "and some before it: " + info.toJson());
        assertEquals(RunState.POSTMIGRATE, source.machine.runState());
        rec.result().get(30, TimeUnit.SECONDS);

        LiveGuest loaded = guests.guest(0);
        Snapshots.load(loaded.machine, rec.file());
        LiveGuests.assertSameGuest(source, loaded);
    }

    @Test
    void aGuestThatDirtiesFasterThanTheLinkSwitchesToPostcopyByItselfWhenAskedTo() throws Exception {
        LiveGuest source = guests.guest(400_000); // far more than 32 MiB/s of pages
        source.start();
        source.awaitWrites(10_000);
        Recording rec = recording("stuck.snap");
        var controller = MigrationController.builder(source.machine).config(postcopy(32L << 20)).postcopyWhenStuck(true).build();
        Migration migration = controller.migrate(rec.at());
        assertEquals(MigrationStatus.COMPLETED, migration.awaitFinished(60, TimeUnit.SECONDS), migration.info().toJson().toString());
        var info = migration.info();
        assertTrue(info.ram().postcopyBytes() > 0, "it switched: " + info.toJson());
        assertTrue(info.ram().dirtySyncCount() >= 3, "after passes that did not converge: " + info.toJson());
        rec.result().get(30, TimeUnit.SECONDS);
        LiveGuest loaded = guests.guest(0);
        Snapshots.load(loaded.machine, rec.file());
        LiveGuests.assertSameGuest(source, loaded);
    }

    @Test
    void withPauseBeforeSwitchoverTheSwitchWaitsInPreSwitchoverForContinue() throws Exception {
        LiveGuest source = guests.guest(20_000);
        source.start();
        Recording rec = recording("paused.snap");
        var statuses = new java.util.concurrent.CopyOnWriteArrayList<MigrationStatus>();
        var config = postcopy(32L << 20).withCapability(MigrationCapability.PAUSE_BEFORE_SWITCHOVER)
                .withCapability(MigrationCapability.EVENTS);
        var controller = MigrationController.builder(source.machine).config(config)
                .events(e -> {
                    if (e instanceof MigrationEvent.StatusChanged c) {
                        statuses.add(c.status());
                    }
                }).build();
        Migration migration = controller.migrate(rec.at());
        controller.startPostcopy();
        LiveGuests.awaitStatus(migration, MigrationStatus.PRE_SWITCHOVER);
        assertEquals(RunState.FINISH_MIGRATE, source.machine.runState(), "stopped, waiting for migrate-continue");
        controller.continueFrom(MigrationStatus.PRE_SWITCHOVER);
        assertEquals(MigrationStatus.COMPLETED, migration.awaitFinished(60, TimeUnit.SECONDS), migration.info().toJson().toString());
        assertEquals(java.util.List.of(MigrationStatus.SETUP, MigrationStatus.ACTIVE, MigrationStatus.PRE_SWITCHOVER,
                MigrationStatus.POSTCOPY_ACTIVE, MigrationStatus.COMPLETED), statuses, "7.2's order");
        rec.result().get(30, TimeUnit.SECONDS);
        LiveGuest loaded = guests.guest(0);
        Snapshots.load(loaded.machine, rec.file());
        LiveGuests.assertSameGuest(source, loaded);
    }

    @Test
    void aGuestThatConvergesIsNotSwitched() throws Exception {
        LiveGuest source = guests.guest(100);
        source.start();
        Recording rec = recording("converged.snap");
        var controller = MigrationController.builder(source.machine).config(postcopy(1L << 30)).postcopyWhenStuck(true).build();
        Migration migration = controller.migrate(rec.at());
        assertEquals(MigrationStatus.COMPLETED, migration.awaitFinished(60, TimeUnit.SECONDS), migration.info().toJson().toString());
        assertEquals(0, migration.info().ram().postcopyBytes(), migration.info().toJson().toString());
        rec.result().get(30, TimeUnit.SECONDS);
    }

    @Test
    void aRecordingWithoutPostcopyRamRefusesTheAdviceAndTheSourceRunsOn() throws Exception {
        LiveGuest source = guests.guest(1_000);
        source.start();
        var recorder = new StreamRecorder(MigrationConfig.defaults());
        MigrationUri at = recorder.listen(MigrationUri.parse("tcp:127.0.0.1:0"));
        var recorded = record(recorder, dir.resolve("refused.snap"));
        var controller = MigrationController.builder(source.machine).config(postcopy(1L << 30)).build();
        Migration migration = controller.migrate(at);
        var e = assertThrows(ExecutionException.class, () -> recorded.get(30, TimeUnit.SECONDS));
        assertTrue(e.getCause().getMessage().contains("POSTCOPY_ADVISE, but postcopy-ram is off here"), e.getCause().getMessage());
        assertEquals(MigrationStatus.FAILED, migration.awaitFinished(30, TimeUnit.SECONDS));
        assertEquals(RunState.RUNNING, source.machine.runState(), "failed before any switch: the source goes on");
    }
}
