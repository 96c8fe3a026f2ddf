package dev.livemig.migration;

import dev.livemig.machine.RunState;
import dev.livemig.savevm.Snapshots;
import dev.livemig.transport.MigrationUri;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Parameter mode cpr-reboot (format reference §16.1): the source stops the guest before anything is sent, so one pass
 * carries its whole state into a file, from which a new instance loads it (RAM kept in place with x-ignore-shared is
 * {@link IgnoreSharedMigrationTest}'s). QEMU's refusals of what CPR cannot do come with its texts.
 */
class CprRebootTest {
    private static final MigrationConfig CPR_REBOOT = cprReboot();

    @TempDir
    Path dir;

    @Test
    void aRunningGuestStopsBeforeItsOnePassAndLoadsBackExactly() throws Exception {
        Path file = dir.resolve("cpr-reboot.mig");
        byte[] ram;
        long writes;
        var events = new CopyOnWriteArrayList<MigrationEvent>();
        try (LiveGuest source = new LiveGuest(16 << 20, 20_000)) {
            source.start();
            source.awaitWrites(2_000);
            var migration = new Migration(source.machine, CPR_REBOOT, events::add);
            migration.start(MigrationUri.parse("file:" + file));
            assertEquals(MigrationStatus.COMPLETED, migration.awaitFinished(60, TimeUnit.SECONDS), migration.info().toJson().toString());
            var info = migration.info().ram();
            // stopped before the first page: every page went once, none again
            assertEquals(source.ram.targetPages(), info.normal() + info.duplicate(), migration.info().toJson().toString());
            assertEquals(RunState.POSTMIGRATE, source.machine.runState());
            assertEquals(1, events.stream().filter(e -> e instanceof MigrationEvent.Stop).count(), "one STOP: " + events);
            int stop = indexOf(events, MigrationEvent.Stop.class);
            int active = events.indexOf(events.stream().filter(e -> e instanceof MigrationEvent.StatusChanged c
                    && c.status() == MigrationStatus.ACTIVE).findFirst().orElseThrow());
            assertTrue(stop < active, "the guest stopped during setup, before RAM went: " + events);
            ram = source.ram.memory().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            writes = source.cpu.writes;
            assertEquals(writes, source.counterSum());
        }
        try (LiveGuest restarted = new LiveGuest(16 << 20, 0)) {
            restarted.ram.memory().fill((byte) 0x5a);
            Snapshots.load(restarted.machine, file);
            assertEquals(-1, restarted.ram.memory().mismatch(MemorySegment.ofArray(ram)), "RAM as it was when the guest stopped");
            assertEquals(writes, restarted.cpu.writes, "and the cpu device with it");
            assertEquals(writes, restarted.counterSum(), "no write lost or doubled");
        }
    }

    /**
     * QEMU's preferred cpr-reboot: RAM in a shared file (/dev/shm) and x-ignore-shared, so the file keeps the RAM and
     * the stream only the device state; the restarted guest maps the same file and loads.
     */
    @Test
    void withRamInASharedFileOnlyTheDevicesGoToTheStreamAndTheRestartedGuestMapsTheRam() throws Exception {
        Path ramFile = dir.resolve("guest.ram");
        Path file = dir.resolve("cpr-reboot-shared.mig");
        byte[] ram;
        long writes;
        try (LiveGuest source = LiveGuest.overSharedFile(ramFile, 16 << 20, 20_000)) {
            source.start();
            source.awaitWrites(2_000);
            var migration = new Migration(source.machine, CPR_REBOOT.withCapability(MigrationCapability.X_IGNORE_SHARED), e -> { });
            migration.start(MigrationUri.parse("file:" + file));
            assertEquals(MigrationStatus.COMPLETED, migration.awaitFinished(60, TimeUnit.SECONDS), migration.info().toJson().toString());
            assertEquals(0, migration.info().ram().normal() + migration.info().ram().duplicate(), "no page in the stream");
            assertTrue(java.nio.file.Files.size(file) < 64 << 10, "devices only: " + java.nio.file.Files.size(file) + " " + dev.livemig.analyze.StreamDump.stats(file));
            ram = source.ram.memory().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            writes = source.cpu.writes;
        }
        try (LiveGuest restarted = LiveGuest.overSharedFile(ramFile, 16 << 20, 0)) {
            dev.livemig.savevm.StandardSections.of(restarted.machine).ram().ignoreShared(true);
            Snapshots.load(restarted.machine, file);
            assertEquals(-1, restarted.ram.memory().mismatch(MemorySegment.ofArray(ram)), "the file held the RAM");
            assertEquals(writes, restarted.cpu.writes, "the cpu device came in the stream");
            assertEquals(writes, restarted.counterSum(), "no write lost or doubled");
        }
    }

    @Test
    void cprRefusesPostcopyAsQemuDoes() throws Exception {
        try (LiveGuest source = new LiveGuest(1 << 20, 0)) {
            source.start();
            var migration = new Migration(source.machine, CPR_REBOOT.withCapability(MigrationCapability.POSTCOPY_RAM), e -> { });
            var refused = assertThrows(dev.livemig.wire.MigrationException.class,
                    () -> migration.start(MigrationUri.parse("file:" + dir.resolve("never.mig"))));
            assertEquals("Cannot use postcopy with CPR", refused.getMessage());
            assertEquals(RunState.RUNNING, source.machine.runState(), "the source runs on");
        }
    }

    private static int indexOf(java.util.List<MigrationEvent> events, Class<?> kind) {
        for (int i = 0; i < events.size(); i++) {
            if (kind.isInstance(events.get(i))) {
                return i;
            }
        }
        return -1;
    }

    private static MigrationConfig cprReboot() {
        try {
            return new MigrationConfig(EnumSet.noneOf(MigrationCapability.class), 300, 1L << 30).withParameter("mode", "cpr-reboot");
        } catch (MigrationConfigException e) {
            throw new AssertionError(e);
        }
    }
}
