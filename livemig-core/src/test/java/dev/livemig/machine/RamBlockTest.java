package dev.livemig.machine;

import dev.livemig.machine.HostFeatures;
import dev.livemig.machine.KernelFeature;
import dev.livemig.linux.Mmap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
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

    @ParameterizedTest
    @EnumSource(PageBacking.class)
    void sixtyFourGibibytesMapWithoutTouchingMemory(PageBacking backing) {
        try (Arena arena = Arena.ofShared()) {
            var block = backing.untouched(arena, "big", 64L << 30);
            block.memory().set(ValueLayout.JAVA_BYTE, (64L << 30) - 1, (byte) 1);
            assertEquals(1, block.memory().get(ValueLayout.JAVA_BYTE, (64L << 30) - 1));
        }
    }

    @Test
    void blocksForHugePagesAreAlignedToThemAndAdvisedWhereTheKernelHasThem() {
        boolean kernelHasThp = Files.exists(Path.of("/sys/kernel/mm/transparent_hugepage/enabled"));
        try (Arena arena = Arena.ofShared()) {
            for (int i = 0; i < 8; i++) { // whatever address the kernel picks
                var block = RamBlock.anonymous(arena, "ram" + i, 6L << 20, true);
                assertEquals(0, block.memory().address() % Mmap.HUGE_PAGE_SIZE);
                assertEquals(kernelHasThp, block.hugePagesAdvised());
                block.memory().set(ValueLayout.JAVA_LONG, (6L << 20) - 8, 7);
                assertEquals(7, block.memory().get(ValueLayout.JAVA_LONG, (6L << 20) - 8));
            }
            var tiny = RamBlock.anonymous(arena, "rom", 64 * 4096, true);
            assertFalse(tiny.hugePagesAdvised(), "smaller than one huge page: not worth a 2 MiB alignment");
            assertFalse(RamBlock.anonymous(arena, "small", 6L << 20).hugePagesAdvised());
        }
    }

    @Test
    void aMachineAsksForHugePagesUnlessSwitchedOff() {
        boolean kernelHasThp = Files.exists(Path.of("/sys/kernel/mm/transparent_hugepage/enabled"));
        try (Machine on = Machine.builder("m").ram("ram", 4L << 20).hostFeatures(HostFeatures.ALL).build();
             Machine off = Machine.builder("m").ram("ram", 4L << 20)
                     .hostFeatures(HostFeatures.ALL.without(KernelFeature.TRANSPARENT_HUGEPAGES)).build()) {
            assertEquals(kernelHasThp, on.ramBlocks().getFirst().hugePagesAdvised());
            assertFalse(off.ramBlocks().getFirst().hugePagesAdvised());
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
