package dev.livemig.ram;

import dev.livemig.linux.Mmap;
import dev.livemig.machine.RamBlock;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * QEMU's XBZRLE page cache (migration/page_cache.c): a direct-mapped cache of the last version of pages
 * sent, indexed by page number modulo its size (xbzrle-cache-size / page, a power of two). A slot holding
 * another page is only replaced once that page has not been hit for two dirty syncs ("ages"). The copies
 * live off-heap, mapped lazily, so an unused slot costs nothing. Used by the migration thread only.
 */
final class XbzrleCache implements AutoCloseable {
    private static final int LIFETIME = 2;

    private final Arena arena = Arena.ofShared();
    private final MemorySegment data;
    private final long[] addr;
    private final long[] age;
    private final int slots;

    /** {@code bytes}: the validated xbzrle-cache-size (a power of two of at least one page). */
    XbzrleCache(long bytes) {
        long n = bytes / RamBlock.TARGET_PAGE_SIZE;
        if (n < 1 || Long.bitCount(n) != 1 || n > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("xbzrle cache of " + bytes + " bytes is not a power of two of pages");
        }
        this.slots = (int) n;
        this.data = Mmap.anonymous(arena, bytes);
        this.addr = new long[slots];
        this.age = new long[slots];
        Arrays.fill(addr, -1);
    }

    private int slot(long ramAddr) {
        return (int) ((ramAddr / RamBlock.TARGET_PAGE_SIZE) & (slots - 1));
    }

    /** True when {@code ramAddr}'s page is cached; a hit refreshes its age. */
    boolean isCached(long ramAddr, long currentAge) {
        int s = slot(ramAddr);
        if (addr[s] == ramAddr) {
            age[s] = currentAge;
            return true;
        }
        return false;
    }

    /** Stores a copy of {@code page}; false when the slot holds another page that is still fresh. */
    boolean insert(long ramAddr, MemorySegment page, long currentAge) {
        int s = slot(ramAddr);
        if (addr[s] != -1 && addr[s] != ramAddr && age[s] + LIFETIME > currentAge) {
            return false;
        }
        MemorySegment.copy(page, 0, data, (long) s * RamBlock.TARGET_PAGE_SIZE, RamBlock.TARGET_PAGE_SIZE);
        age[s] = currentAge;
        addr[s] = ramAddr;
        return true;
    }

    /** The cached copy of {@code ramAddr}'s page (valid after a hit or an insert). */
    MemorySegment data(long ramAddr) {
        return data.asSlice((long) slot(ramAddr) * RamBlock.TARGET_PAGE_SIZE, RamBlock.TARGET_PAGE_SIZE);
    }

    long sizeBytes() {
        return data.byteSize();
    }

    @Override
    public void close() {
        arena.close();
    }
}
