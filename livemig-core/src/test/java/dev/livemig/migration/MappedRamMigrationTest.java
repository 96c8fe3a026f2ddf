package dev.livemig.migration;

import dev.livemig.machine.Machine;
import dev.livemig.machine.RunState;
import dev.livemig.savevm.Snapshots;
import dev.livemig.transport.MigrationUri;
import dev.livemig.wire.MigrationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** Capability mapped-ram in the migration engine: a paused guest to file:, and QEMU's refusals (§17). */
class MappedRamMigrationTest {
    private static final MigrationConfig MAPPED_RAM = new MigrationConfig(Set.of("mapped-ram"), 300, 0);

    @TempDir
    Path dir;

    private static Machine machine(String name) {
        return Machine.builder(name).ram("pc.ram", 8 << 20).build();
    }

    @Test
    void aPausedGuestMigratesToAFileThatLoadsBackPageForPage() throws Exception {
        Path file = dir.resolve("guest.mig");
        byte[] image = new byte[8 << 20];
        new Random(17).nextBytes(image);
        for (int i = 0; i < image.length; i += 8 * 4096) {
            java.util.Arrays.fill(image, i, i + 3 * 4096, (byte) 0); // zero pages become holes
        }
        try (Machine m = machine("pc-i440fx-10.0")) {
            m.ramBlock("pc.ram").orElseThrow().memory().copyFrom(MemorySegment.ofArray(image));
            var migration = new Migration(m, MAPPED_RAM, e -> { });
            migration.start(MigrationUri.parse("file:" + file));
            assertEquals(MigrationStatus.COMPLETED, migration.awaitFinished(60, TimeUnit.SECONDS), migration.info().toJson().toString());
        }
        assertTrue(Files.size(file) >= 8 << 20, "the page area spans the block: " + Files.size(file));
        try (Machine back = machine("pc-i440fx-10.0")) {
            back.ramBlock("pc.ram").orElseThrow().memory().fill((byte) 0x5a);
            Snapshots.load(back, file);
            assertEquals(-1, back.ramBlock("pc.ram").orElseThrow().memory().mismatch(MemorySegment.ofArray(image)));
        }
    }

    @Test
    void whatMappedRamCannotDoIsRefusedBeforeTheGuestIsTouched() throws Exception {
        try (Machine m = machine("pc-i440fx-10.0")) {
            String tcp = assertThrows(MigrationException.class,
                    () -> new Migration(m, MAPPED_RAM, e -> { }).start(MigrationUri.parse("tcp:127.0.0.1:1"))).getMessage();
            assertEquals("Migration requires seekable transport (e.g. file)", tcp, "QEMU's text");

            MigrationConfig multifd = MAPPED_RAM.withCapability("multifd");
            String channels = assertThrows(MigrationException.class,
                    () -> new Migration(m, multifd, e -> { }).start(MigrationUri.parse("file:" + dir.resolve("a")))).getMessage();
            assertTrue(channels.contains("mapped-ram with multifd") && channels.contains("not built yet"), channels);
            String compressed = assertThrows(MigrationException.class, () -> new Migration(m,
                    multifd.withParameter("multifd-compression", "zlib"), e -> { }).start(MigrationUri.parse("file:" + dir.resolve("b")))).getMessage();
            assertEquals("Cannot use compression with mapped-ram", compressed, "QEMU's text");

            m.resume();
            String running = assertThrows(MigrationException.class,
                    () -> new Migration(m, MAPPED_RAM, e -> { }).start(MigrationUri.parse("file:" + dir.resolve("c")))).getMessage();
            assertTrue(running.contains("running guest") && running.contains("not built yet"), running);
            assertEquals(RunState.RUNNING, m.runState(), "the guest runs on");
            assertFalse(Files.exists(dir.resolve("c")), "nothing written");
        }
    }

    @Test
    void mappedRamExcludesWhatQemuExcludes() {
        assertEquals("Mapped-ram migration is incompatible with xbzrle", assertThrows(MigrationException.class,
                () -> MAPPED_RAM.withCapability("xbzrle")).getMessage());
        assertEquals("Mapped-ram migration is incompatible with compression", assertThrows(MigrationException.class,
                () -> MAPPED_RAM.withCapability("compress")).getMessage());
    }
}
