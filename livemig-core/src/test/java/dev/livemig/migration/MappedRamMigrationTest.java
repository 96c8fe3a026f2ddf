package dev.livemig.migration;

import dev.livemig.machine.Machine;
import dev.livemig.savevm.Snapshots;
import dev.livemig.transport.MigrationUri;
import dev.livemig.wire.MigrationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** Capability mapped-ram in the migration engine: pages at their file offsets, rewritten as the guest dirties them (§17). */
class MappedRamMigrationTest {
    private static final MigrationConfig MAPPED_RAM = new MigrationConfig(Set.of(MigrationCapability.MAPPED_RAM), 300, 0);

    @TempDir
    Path dir;

    @Test
    void aPausedGuestMigratesToAFileThatLoadsBackPageForPage() throws Exception {
        Path file = dir.resolve("guest.mig");
        byte[] image = new byte[8 << 20];
        new Random(17).nextBytes(image);
        for (int i = 0; i < image.length; i += 8 * 4096) {
            java.util.Arrays.fill(image, i, i + 3 * 4096, (byte) 0); // zero pages become holes
        }
        try (Machine m = Machine.builder("pc-i440fx-10.0").ram("pc.ram", 8 << 20).build()) {
            m.ramBlock("pc.ram").orElseThrow().memory().copyFrom(MemorySegment.ofArray(image));
            var migration = new Migration(m, MAPPED_RAM, e -> { });
            migration.start(MigrationUri.parse("file:" + file));
            assertEquals(MigrationStatus.COMPLETED, migration.awaitFinished(60, TimeUnit.SECONDS), migration.info().toJson().toString());
        }
        assertTrue(Files.size(file) >= 8 << 20, "the page area spans the block: " + Files.size(file));
        try (Machine back = Machine.builder("pc-i440fx-10.0").ram("pc.ram", 8 << 20).build()) {
            back.ramBlock("pc.ram").orElseThrow().memory().fill((byte) 0x5a);
            Snapshots.load(back, file);
            assertEquals(-1, back.ramBlock("pc.ram").orElseThrow().memory().mismatch(MemorySegment.ofArray(image)));
        }
    }

    /**
     * A guest that keeps writing while its RAM goes to the file: pages are written again at their offsets, and what
     * loads back is exactly the source's memory at the switchover (its counters and its cpu device agree).
     */
    @ParameterizedTest(name = "multifd channels: {0}")
    @ValueSource(ints = {0, 3})
    void aRunningGuestMigratesLiveAndTheFileHoldsItsStateAtTheSwitchover(int channels) throws Exception {
        Path file = dir.resolve("live.mig");
        MigrationConfig config = channels == 0 ? MAPPED_RAM : MAPPED_RAM.withCapability(MigrationCapability.MULTIFD)
                .withParameter("multifd-channels", Integer.toString(channels));
        byte[] atSwitchover;
        long writes;
        try (LiveGuest source = new LiveGuest(16 << 20, 20_000)) {
            source.start();
            source.awaitWrites(2_000);
            var migration = new Migration(source.machine, config, e -> { });
            migration.start(MigrationUri.parse("file:" + file));
            assertEquals(MigrationStatus.COMPLETED, migration.awaitFinished(60, TimeUnit.SECONDS), migration.info().toJson().toString());
            var ram = migration.info().toJson().get("ram").orElseThrow().asObject();
            assertTrue(ram.number("normal") + ram.number("duplicate") > 4096, "pages written again after the first pass: " + ram);
            atSwitchover = source.ram.memory().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE); // paused since
            writes = source.cpu.writes;
            assertEquals(writes, source.counterSum());
        }
        try (LiveGuest back = new LiveGuest(16 << 20, 0)) {
            back.ram.memory().fill((byte) 0x5a);
            Snapshots.load(back.machine, file);
            assertEquals(-1, back.ram.memory().mismatch(MemorySegment.ofArray(atSwitchover)), "RAM as it was at the switchover");
            assertEquals(writes, back.cpu.writes, "and the cpu device with it");
            assertEquals(writes, back.counterSum(), "no write lost or doubled");
        }
    }

    /**
     * direct-io: the page areas written and read with O_DIRECT (QEMU's multifd file channels do the same), the
     * destination a livemig incoming migration from file:. A file system that refuses O_DIRECT must be named in
     * the error on both ends, never silently used buffered.
     */
    @ParameterizedTest(name = "multifd channels: {0}")
    @ValueSource(ints = {0, 2})
    void withDirectIoThePageAreasGoPastThePageCacheBothWays(int channels) throws Exception {
        Path file = dir.resolve("direct.mig");
        MigrationConfig config = MAPPED_RAM.withParameter("direct-io", "true");
        if (channels > 0) {
            config = config.withCapability(MigrationCapability.MULTIFD).withParameter("multifd-channels", Integer.toString(channels));
        }
        boolean hostHasDirectIo = directIoWorksIn(dir);
        byte[] atSwitchover;
        try (LiveGuest source = new LiveGuest(8 << 20, 20_000)) {
            source.start();
            source.awaitWrites(1_000);
            var migration = new Migration(source.machine, config, e -> { });
            migration.start(MigrationUri.parse("file:" + file));
            MigrationStatus end = migration.awaitFinished(60, TimeUnit.SECONDS);
            if (!hostHasDirectIo) {
                assertEquals(MigrationStatus.FAILED, end);
                assertTrue(migration.info().errorDesc().contains("O_DIRECT"), migration.info().errorDesc());
                return;
            }
            assertEquals(MigrationStatus.COMPLETED, end, migration.info().toJson().toString());
            atSwitchover = source.ram.memory().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        }
        try (LiveGuest back = new LiveGuest(8 << 20, 0)) {
            var incoming = new IncomingMigration(back.machine, config, false, e -> { });
            incoming.listen(MigrationUri.parse("file:" + file));
            assertEquals(MigrationStatus.COMPLETED, incoming.awaitFinished(60, TimeUnit.SECONDS), incoming.error());
            assertEquals(-1, back.ram.memory().mismatch(MemorySegment.ofArray(atSwitchover)));
        }
    }

    /** The host property the direct-io test depends on: whether this file system takes O_DIRECT. */
    private static boolean directIoWorksIn(Path dir) throws Exception {
        Path probe = Files.createTempFile(dir, "odirect", ".probe");
        try (var ch = java.nio.channels.FileChannel.open(probe, java.nio.file.StandardOpenOption.WRITE,
                com.sun.nio.file.ExtendedOpenOption.DIRECT)) {
            return ch.isOpen();
        } catch (java.io.IOException | UnsupportedOperationException e) {
            return false;
        } finally {
            Files.deleteIfExists(probe);
        }
    }

    @Test
    void directIoWithoutMappedRamIsRefusedNotIgnored() throws Exception {
        MigrationConfig config = MigrationConfig.defaults().withParameter("direct-io", "true");
        try (Machine m = Machine.builder("pc-i440fx-10.0").ram("pc.ram", 1 << 20).build()) {
            String why = assertThrows(MigrationException.class,
                    () -> new Migration(m, config, e -> { }).start(MigrationUri.parse("file:" + dir.resolve("d")))).getMessage();
            assertTrue(why.startsWith("direct-io needs capability mapped-ram"), why);
            why = assertThrows(MigrationException.class,
                    () -> new IncomingMigration(m, config, false, e -> { }).listen(MigrationUri.parse("file:" + dir.resolve("d")))).getMessage();
            assertTrue(why.startsWith("direct-io needs capability mapped-ram"), why);
        }
    }

    @Test
    void whatQemuRefusesWithMappedRamIsRefusedWithItsText() throws Exception {
        try (Machine m = Machine.builder("pc-i440fx-10.0").ram("pc.ram", 1 << 20).build()) {
            String tcp = assertThrows(MigrationException.class,
                    () -> new Migration(m, MAPPED_RAM, e -> { }).start(MigrationUri.parse("tcp:127.0.0.1:1"))).getMessage();
            assertEquals("Migration requires seekable transport (e.g. file)", tcp);
            MigrationConfig zlib = MAPPED_RAM.withCapability(MigrationCapability.MULTIFD).withParameter("multifd-compression", "zlib");
            String compressed = assertThrows(MigrationException.class,
                    () -> new Migration(m, zlib, e -> { }).start(MigrationUri.parse("file:" + dir.resolve("b")))).getMessage();
            assertEquals("Cannot use compression with mapped-ram", compressed);
            assertFalse(Files.exists(dir.resolve("b")), "nothing written");
        }
        assertEquals("Mapped-ram migration is incompatible with xbzrle", assertThrows(MigrationException.class,
                () -> MAPPED_RAM.withCapability(MigrationCapability.XBZRLE)).getMessage());
        assertEquals("Mapped-ram migration is incompatible with compression", assertThrows(MigrationException.class,
                () -> MAPPED_RAM.withCapability(MigrationCapability.COMPRESS)).getMessage());
    }
}
