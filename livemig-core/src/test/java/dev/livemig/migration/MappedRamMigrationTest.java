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
    private static final MigrationConfig MAPPED_RAM = new MigrationConfig(Set.of("mapped-ram"), 300, 0);

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
        MigrationConfig config = channels == 0 ? MAPPED_RAM : MAPPED_RAM.withCapability("multifd")
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

    @Test
    void whatQemuRefusesWithMappedRamIsRefusedWithItsText() throws Exception {
        try (Machine m = Machine.builder("pc-i440fx-10.0").ram("pc.ram", 1 << 20).build()) {
            String tcp = assertThrows(MigrationException.class,
                    () -> new Migration(m, MAPPED_RAM, e -> { }).start(MigrationUri.parse("tcp:127.0.0.1:1"))).getMessage();
            assertEquals("Migration requires seekable transport (e.g. file)", tcp);
            MigrationConfig zlib = MAPPED_RAM.withCapability("multifd").withParameter("multifd-compression", "zlib");
            String compressed = assertThrows(MigrationException.class,
                    () -> new Migration(m, zlib, e -> { }).start(MigrationUri.parse("file:" + dir.resolve("b")))).getMessage();
            assertEquals("Cannot use compression with mapped-ram", compressed);
            assertFalse(Files.exists(dir.resolve("b")), "nothing written");
        }
        assertEquals("Mapped-ram migration is incompatible with xbzrle", assertThrows(MigrationException.class,
                () -> MAPPED_RAM.withCapability("xbzrle")).getMessage());
        assertEquals("Mapped-ram migration is incompatible with compression", assertThrows(MigrationException.class,
                () -> MAPPED_RAM.withCapability("compress")).getMessage());
    }
}
