package dev.livemig.ram;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.*;

/** page_cache.c's rules: direct-mapped by page number, a fresh page is not evicted for two ages. */
class XbzrleCacheTest {
    private static MemorySegment page(int fill) {
        return MemorySegment.ofArray(new byte[4096]).fill((byte) fill);
    }

    @Test
    void aSlotKeepsItsPageUntilTwoAgesPassWithoutAHit() {
        try (var cache = new XbzrleCache(4 * 4096)) { // 4 slots: pages 0 and 4 share slot 0
            assertFalse(cache.isCached(0, 1));
            assertTrue(cache.insert(0, page(1), 1));
            assertTrue(cache.isCached(0, 1));
            assertEquals(1, cache.data(0).get(java.lang.foreign.ValueLayout.JAVA_BYTE, 100));
            assertFalse(cache.insert(4 * 4096, page(2), 2), "age 1 + 2 > 2: still fresh");
            assertTrue(cache.isCached(0, 2), "a hit refreshes the age to 2");
            assertFalse(cache.insert(4 * 4096, page(2), 3));
            assertTrue(cache.insert(4 * 4096, page(2), 4), "age 2 + 2 > 4 is false: replaced");
            assertFalse(cache.isCached(0, 4));
            assertTrue(cache.isCached(4 * 4096, 4));
            assertTrue(cache.insert(4 * 4096, page(3), 4), "the same page is always updated");
            assertEquals(3, cache.data(4 * 4096).get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0));
        }
    }

    @Test
    void theSizeMustBeAPowerOfTwoOfPages() {
        assertThrows(IllegalArgumentException.class, () -> new XbzrleCache(3 * 4096));
        assertThrows(IllegalArgumentException.class, () -> new XbzrleCache(100));
    }
}
