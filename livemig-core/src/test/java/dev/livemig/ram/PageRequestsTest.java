package dev.livemig.ram;

import dev.livemig.machine.RamBlock;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.format.ReturnPathMessage.ReqPages;
import dev.livemig.wire.format.ReturnPathMessage.ReqPagesId;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Postcopy page requests as the source takes them from the return path. */
class PageRequestsTest {
    private static final int PAGE = RamBlock.TARGET_PAGE_SIZE;

    private static PageRequests requests(Arena arena) {
        return new PageRequests(List.of(
                new RamBlock("pc.ram", arena.allocate(64L * PAGE, PAGE), PAGE),
                new RamBlock("huge", arena.allocate(4L << 21, PAGE), 2 << 20)));
    }

    @Test
    void aRequestWithoutANameIsInTheBlockOfThePreviousOne() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            PageRequests r = requests(arena);
            r.add(new ReqPagesId(5L * PAGE, PAGE, "pc.ram"));
            r.add(new ReqPages(9L * PAGE, PAGE));
            r.add(new ReqPagesId(2L << 21, 2 << 20, "huge"));
            r.add(new ReqPages(0, 2 << 20));
            assertEquals(new PageRequests.Request(0, 5, 1), r.poll());
            assertEquals(new PageRequests.Request(0, 9, 1), r.poll());
            assertEquals(new PageRequests.Request(1, 1024, 512), r.poll());
            assertEquals(new PageRequests.Request(1, 0, 512), r.poll());
            assertNull(r.poll());
            assertEquals(4, r.received());
        }
    }

    @Test
    void aFirstRequestMustNameItsBlockAndAgainAfterResume() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            PageRequests r = requests(arena);
            var e = assertThrows(MigrationException.class, () -> r.add(new ReqPages(0, PAGE)));
            assertTrue(e.getMessage().contains("without a block name"), e.getMessage());
            r.add(new ReqPagesId(0, PAGE, "pc.ram"));
            r.forgetPreviousBlock();
            assertThrows(MigrationException.class, () -> r.add(new ReqPages(PAGE, PAGE)));
            assertEquals(1, r.received());
        }
    }

    @Test
    void requestsTheDestinationCouldNotHaveMeantAreRefusedWithWhatWasAsked() {
        try (Arena arena = Arena.ofConfined()) {
            PageRequests r = requests(arena);
            assertRefused(r, new ReqPagesId(0, PAGE, "vga.vram"), "unknown RAM block \"vga.vram\"");
            assertRefused(r, new ReqPagesId(100, PAGE, "pc.ram"), "misaligned page request in block pc.ram: start 0x64");
            assertRefused(r, new ReqPagesId(0, 0, "pc.ram"), "length 0x0");
            assertRefused(r, new ReqPagesId(PAGE, PAGE, "huge"), "host page 0x200000");
            assertRefused(r, new ReqPagesId(63L * PAGE, 2 * PAGE, "pc.ram"), "beyond block pc.ram: start 0x3f000 length 0x2000");
            assertRefused(r, new ReqPagesId(64L * PAGE, PAGE, "pc.ram"), "beyond block pc.ram");
            assertRefused(r, new ReqPagesId(0, -4096, "pc.ram"), "beyond block pc.ram"); // be32 0xfffff000
            assertFalse(r.waiting());
            assertEquals(0, r.received());
        }
    }

    private static void assertRefused(PageRequests r, dev.livemig.wire.format.ReturnPathMessage m, String expected) {
        var e = assertThrows(MigrationException.class, () -> r.add(m));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }
}
