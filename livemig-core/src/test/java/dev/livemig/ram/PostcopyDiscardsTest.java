package dev.livemig.ram;

import dev.livemig.machine.DirtyBitmap;
import dev.livemig.machine.RamBlock;
import dev.livemig.wire.format.MigrationCommand.PostcopyRamDiscard;
import dev.livemig.wire.format.MigrationCommand.Range;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The discard commands sent at the switch to postcopy: runs of pages still to send, as byte ranges. */
class PostcopyDiscardsTest {
    private static final int PAGE = RamBlock.TARGET_PAGE_SIZE;

    @Test
    void eachRunOfPagesStillToSendBecomesOneByteRange() {
        try (Arena arena = Arena.ofConfined()) {
            RamBlock block = new RamBlock("pc.ram", arena.allocate(256L * PAGE, PAGE), PAGE);
            var toSend = new DirtyBitmap(256);
            toSend.set(0);
            toSend.setRange(63, 130);
            toSend.set(255);
            List<PostcopyRamDiscard> commands = PostcopyDiscards.of(block, toSend);
            assertEquals(List.of(new PostcopyRamDiscard("pc.ram", List.of(
                    new Range(0, PAGE), new Range(63L * PAGE, 67L * PAGE), new Range(255L * PAGE, PAGE)))), commands);
        }
    }

    @Test
    void aBlockWithNothingLeftToSendSendsNoCommand() {
        try (Arena arena = Arena.ofConfined()) {
            RamBlock block = new RamBlock("pc.bios", arena.allocate(16L * PAGE, PAGE), PAGE);
            assertEquals(List.of(), PostcopyDiscards.of(block, new DirtyBitmap(16)));
        }
    }

    @Test
    void rangesGoTwelveToACommandAsQemuBatchesThem() {
        try (Arena arena = Arena.ofConfined()) {
            RamBlock block = new RamBlock("ram", arena.allocate(100L * PAGE, PAGE), PAGE);
            var toSend = new DirtyBitmap(100);
            for (int p = 0; p < 100; p += 4) {
                toSend.set(p); // 25 separate runs
            }
            List<PostcopyRamDiscard> commands = PostcopyDiscards.of(block, toSend);
            assertEquals(List.of(12, 12, 1), commands.stream().map(c -> c.ranges().size()).toList());
            assertEquals(new Range(96L * PAGE, PAGE), commands.getLast().ranges().getFirst());
        }
    }

    @Test
    void aHugePageBlockDiscardsAndResendsWholeHostPages() {
        int huge = 2 << 20;
        int perHuge = huge / PAGE;
        try (Arena arena = Arena.ofConfined()) {
            RamBlock block = new RamBlock("huge", arena.allocate(3L * huge, PAGE), huge);
            var toSend = new DirtyBitmap(3L * perHuge);
            toSend.set(perHuge + 5); // one target page of the second host page
            List<PostcopyRamDiscard> commands = PostcopyDiscards.of(block, toSend);
            assertEquals(List.of(new PostcopyRamDiscard("huge", List.of(new Range(huge, huge)))), commands);
            assertEquals(perHuge, toSend.count(), "the whole host page is now to send");
        }
    }

    @Test
    void aBitmapOfAnotherSizeIsACallerBug() {
        try (Arena arena = Arena.ofConfined()) {
            RamBlock block = new RamBlock("ram", arena.allocate(8L * PAGE, PAGE), PAGE);
            assertThrows(IllegalArgumentException.class, () -> PostcopyDiscards.of(block, new DirtyBitmap(9)));
        }
    }
}
