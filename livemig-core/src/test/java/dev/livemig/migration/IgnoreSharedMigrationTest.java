package dev.livemig.migration;

import dev.livemig.machine.Machine;
import dev.livemig.machine.RamBlock;
import dev.livemig.transport.MigrationUri;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * livemig to livemig with x-ignore-shared: a block that is a shared file is listed but never sent (the
 * destination maps the same file), the private block moves as always, and a destination that disagrees about the
 * capability refuses the stream as the configuration record demands.
 */
class IgnoreSharedMigrationTest {
    private static final long SHARED = 8L << 20;
    private static final long PRIVATE = 2L << 20;

    @TempDir
    Path dir;

    /** Over the main stream, or over two multifd channels (whose receiver takes no page for a shared file block). */
    @org.junit.jupiter.params.ParameterizedTest(name = "multifd: {0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void theSharedFileStaysInPlaceAndOnlyThePrivateBlockTravels(boolean multifd) throws Exception {
        Path file = dir.resolve("shared.ram");
        byte[] shared = random(51, SHARED);
        byte[] own = random(52, PRIVATE);
        var config = new MigrationConfig(EnumSet.of(MigrationCapability.X_IGNORE_SHARED), 300, 1L << 30);
        if (multifd) {
            config = config.withCapability(MigrationCapability.MULTIFD).withParameter("multifd-channels", "2");
        }
        try (Arena arena = Arena.ofShared(); Machine source = machine(arena, file); Machine dest = machine(arena, file)) {
            source.ramBlock("shared").orElseThrow().memory().copyFrom(MemorySegment.ofArray(shared));
            source.ramBlock("own").orElseThrow().memory().copyFrom(MemorySegment.ofArray(own));
            var incoming = new IncomingMigration(dest, config, false, e -> { });
            var m = new Migration(source, config, e -> { });
            m.start(incoming.listen(MigrationUri.parse("unix:" + dir.resolve("m.sock"))));
            assertEquals(MigrationStatus.COMPLETED, m.awaitFinished(60, TimeUnit.SECONDS), m.info().toJson().toString());
            assertEquals(MigrationStatus.COMPLETED, incoming.awaitFinished(10, TimeUnit.SECONDS), incoming.error());
            assertArrayEquals(own, dest.ramBlock("own").orElseThrow().memory().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
            assertArrayEquals(shared, dest.ramBlock("shared").orElseThrow().memory().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE),
                    "the destination maps the file the source wrote");
            long sent = m.info().ram().transferred();
            assertTrue(sent >= PRIVATE && sent < PRIVATE + (1 << 20), "the private block's pages and no shared page: " + sent);
            if (multifd) {
                assertTrue(m.info().ram().multifdBytes() >= PRIVATE, "the private block went over the channels: " + m.info().toJson());
            }
        }
    }

    @Test
    void aDestinationWithoutTheCapabilityRefusesTheStream() throws Exception {
        Path file = dir.resolve("shared.ram");
        try (Arena arena = Arena.ofShared(); Machine source = machine(arena, file); Machine dest = machine(arena, file)) {
            var incoming = new IncomingMigration(dest, new MigrationConfig(EnumSet.noneOf(MigrationCapability.class), 300, 1L << 30), false, e -> { });
            var m = new Migration(source, new MigrationConfig(EnumSet.of(MigrationCapability.X_IGNORE_SHARED), 300, 1L << 30), e -> { });
            m.start(incoming.listen(MigrationUri.parse("unix:" + dir.resolve("m.sock"))));
            assertEquals(MigrationStatus.FAILED, incoming.awaitFinished(60, TimeUnit.SECONDS));
            assertTrue(incoming.error().contains("capability x-ignore-shared differs: source=on destination=off"), incoming.error());
            assertEquals(MigrationStatus.FAILED, m.awaitFinished(60, TimeUnit.SECONDS));
            // early, its write fails; once it has written everything, the destination's refusal byte tells it
            assertFalse(m.info().errorDesc().isEmpty());
        }
    }

    /**
     * The stream does not say which blocks the source kept in place; a destination that holds such a block privately
     * would keep it as it was (zero) and complete. It sees that no page came for it, and refuses at the end.
     */
    @org.junit.jupiter.params.ParameterizedTest(name = "multifd: {0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void aDestinationHoldingTheSharedBlockPrivatelyRefusesTheStreamThatLeftItOut(boolean multifd) throws Exception {
        Path file = dir.resolve("shared.ram");
        var config = new MigrationConfig(EnumSet.of(MigrationCapability.X_IGNORE_SHARED), 300, 1L << 30);
        if (multifd) {
            config = config.withCapability(MigrationCapability.MULTIFD).withParameter("multifd-channels", "2");
        }
        try (Arena arena = Arena.ofShared(); Machine source = machine(arena, file);
             Machine dest = Machine.builder("pc-i440fx-7.2").ram("shared", SHARED).ram("own", PRIVATE).build()) {
            source.ramBlock("shared").orElseThrow().memory().copyFrom(MemorySegment.ofArray(random(53, SHARED)));
            var incoming = new IncomingMigration(dest, config, false, e -> { });
            var m = new Migration(source, config, e -> { });
            m.start(incoming.listen(MigrationUri.parse("unix:" + dir.resolve("m.sock"))));
            assertEquals(MigrationStatus.FAILED, incoming.awaitFinished(60, TimeUnit.SECONDS));
            assertTrue(incoming.error().contains("shared") && incoming.error().contains("received no page"), incoming.error());
            assertEquals(MigrationStatus.FAILED, m.awaitFinished(60, TimeUnit.SECONDS), "the source knows too");
        }
    }

    private static Machine machine(Arena arena, Path file) throws java.io.IOException {
        return Machine.builder("pc-i440fx-7.2")
                .ram(RamBlock.mappedFile(arena, "shared", file, SHARED))
                .ram(RamBlock.anonymous(arena, "own", PRIVATE))
                .build();
    }

    private static byte[] random(long seed, long size) {
        byte[] b = new byte[(int) size];
        new Random(seed).nextBytes(b);
        return b;
    }
}
