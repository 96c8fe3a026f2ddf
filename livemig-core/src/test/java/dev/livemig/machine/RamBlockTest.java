package dev.livemig.machine;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class RamBlockTest {

    @Test
    void anonymousMemoryStartsZeroAndIsWritable() {
        try (Arena arena = Arena.ofShared()) {
            var block = RamBlock.anonymous(arena, "pc.ram", 1 << 20);
            assertEquals(256, block.targetPages());
            assertEquals(0, block.memory().get(ValueLayout.JAVA_LONG, 8192));
            block.memory().set(ValueLayout.JAVA_LONG, 8192, 42);
            assertEquals(42, block.page(8192).get(ValueLayout.JAVA_LONG, 0));
        }
    }

    @Test
    void sixtyFourGibibytesMapWithoutTouchingMemory() {
        try (Arena arena = Arena.ofShared()) {
            var block = RamBlock.anonymous(arena, "big", 64L << 30);
            block.memory().set(ValueLayout.JAVA_BYTE, (64L << 30) - 1, (byte) 1);
            assertEquals(1, block.memory().get(ValueLayout.JAVA_BYTE, (64L << 30) - 1));
        }
    }

    @Test
    void markDirtyCoversEveryTouchedPage() {
        try (Arena arena = Arena.ofShared()) {
            var block = RamBlock.anonymous(arena, "ram", 64 * 4096);
            block.markDirty(4095, 2); // straddles pages 0 and 1
            block.markDirty(10 * 4096, 4096);
            assertTrue(block.dirtyLog().get(0));
            assertTrue(block.dirtyLog().get(1));
            assertTrue(block.dirtyLog().get(10));
            assertEquals(3, block.dirtyLog().count());
        }
    }

    @Test
    void fileBackedBlocksKeepTheirContentsInTheFile(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("ram.img");
        try (Arena arena = Arena.ofShared()) {
            var block = RamBlock.mappedFile(arena, "mem0", f, 8192);
            block.memory().set(ValueLayout.JAVA_BYTE, 4096, (byte) 7);
        }
        assertEquals(8192, Files.size(f));
        assertEquals(7, Files.readAllBytes(f)[4096]);
    }

    @Test
    void badShapesAreRefused() {
        try (Arena arena = Arena.ofShared()) {
            assertThrows(IllegalArgumentException.class, () -> RamBlock.anonymous(arena, "odd", 4097));
            assertThrows(IllegalArgumentException.class, () -> RamBlock.anonymous(arena, "", 4096));
            assertThrows(IllegalArgumentException.class, () -> RamBlock.anonymous(arena, "x".repeat(256), 4096));
        }
    }
}
