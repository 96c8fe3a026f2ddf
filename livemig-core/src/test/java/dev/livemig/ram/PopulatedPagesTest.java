package dev.livemig.ram;

import dev.livemig.machine.DirtyTracker;
import dev.livemig.machine.ExplicitDirtyTracker;
import dev.livemig.machine.RamBlock;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Zero pages known from the kernel instead of read: fast, and never at the cost of a lost write. */
class PopulatedPagesTest {

    @Test
    void untouchedAndReadOnlyPagesAreKnownEmptyWrittenOnesMayHoldData() {
        try (Arena arena = Arena.ofShared()) {
            var block = RamBlock.anonymous(arena, "ram", 64 * 4096);
            block.memory().set(ValueLayout.JAVA_LONG, 5 * 4096, 1);
            block.memory().get(ValueLayout.JAVA_LONG, 9 * 4096); // a read maps the shared zero page
            var maybeData = PopulatedPages.of(block);
            assertNotNull(maybeData, "PAGEMAP_SCAN works on this machine");
            assertEquals(1, maybeData.count());
            assertTrue(maybeData.get(5));
        }
    }

    @Test
    void fileBackedMemoryIsAlwaysRead(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        try (Arena arena = Arena.ofShared()) {
            assertNull(PopulatedPages.of(RamBlock.mappedFile(arena, "f", dir.resolve("f"), 8 * 4096)));
        }
    }

    @Test
    void aPageWrittenAfterSetupIsSentAgainWithItsContent() throws Exception {
        for (DirtyTracker tracker : List.of(new ExplicitDirtyTracker(), DirtyTracker.automatic())) {
            try (Arena arena = Arena.ofShared(); tracker) {
                var src = RamBlock.anonymous(arena, "ram", 16 * 4096);
                var dst = RamBlock.anonymous(arena, "ram", 16 * 4096);
                var saver = new RamSaver(List.of(src), new RamCounters(), tracker);
                var w = StreamWriter.inMemory();
                saver.setup(w);
                // written after the scan that called every page empty
                src.page(3 * 4096).fill((byte) 0x77);
                if (tracker instanceof ExplicitDirtyTracker) {
                    src.markDirty(3 * 4096, 4096);
                }
                saver.iterate(w, 0);
                saver.complete(w);
                saver.cleanup();
                var loader = new RamLoader(List.of(dst));
                var r = StreamReader.of(w.toByteArray());
                loader.load(r, 4);
                loader.load(r, 4);
                loader.load(r, 4);
                assertEquals(-1, dst.memory().mismatch(src.memory()), tracker.name());
            }
        }
    }

    @Test
    void aZeroRecordOverAPageThatReceivedDataClearsIt() throws Exception {
        try (Arena arena = Arena.ofShared()) {
            var dst = RamBlock.anonymous(arena, "ram", 4 * 4096);
            var loader = new RamLoader(List.of(dst));
            var w = StreamWriter.inMemory();
            w.be64(0x1000 | RamFlags.PAGE).str8("ram").page(MemorySegment.ofArray(new byte[4096]).fill((byte) 9));
            w.be64(0x1000 | RamFlags.ZERO | RamFlags.CONTINUE).u8(0);
            w.be64(RamFlags.EOS);
            loader.load(StreamReader.of(w.toByteArray()), 4);
            assertEquals(0, dst.memory().get(ValueLayout.JAVA_BYTE, 0x1000 + 100), "the later ZERO record wins");
        }
    }
}
