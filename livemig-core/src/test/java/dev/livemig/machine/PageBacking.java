package dev.livemig.machine;

import dev.livemig.linux.Mmap;

import java.lang.foreign.Arena;

/**
 * The two ways guest RAM can be backed, for tests that must hold with either: 4 KiB pages, or memory advised
 * for transparent huge pages. Whether the host backs an advised block with huge pages is its choice (THP mode,
 * free memory): {@link #hugeBytes} tells, and tests assert the contract for what they find.
 */
public enum PageBacking {
    SMALL(false), HUGE(true);

    private final boolean huge;

    PageBacking(boolean huge) {
        this.huge = huge;
    }

    public boolean huge() {
        return huge;
    }

    /**
     * A block for a test of this backing: SMALL is untouched 4 KiB memory; HUGE is at least {@code size} bytes
     * (a whole number of huge pages), advised and populated with zeros first, as the RAM of a guest that has run
     * for a while is: only populated memory can be mapped by huge pages when tracking starts.
     */
    public RamBlock block(Arena arena, String name, long size) {
        RamBlock block = untouched(arena, name, size);
        if (huge && !Mmap.populateWrite(block.memory())) {
            block.memory().fill((byte) 0);
        }
        return block;
    }

    /** As {@link #block}, never populated. */
    public RamBlock untouched(Arena arena, String name, long size) {
        if (!huge) {
            return RamBlock.anonymous(arena, name, size);
        }
        long rounded = (size + Mmap.HUGE_PAGE_SIZE - 1) / Mmap.HUGE_PAGE_SIZE * Mmap.HUGE_PAGE_SIZE;
        return RamBlock.anonymous(arena, name, rounded, true);
    }

    /** Bytes of {@code block} mapped by huge pages right now; fails the test where that cannot be told. */
    public static long hugeBytes(RamBlock block) {
        long bytes = block.hugePageBytes();
        if (bytes < 0) {
            throw new IllegalStateException("PAGEMAP_SCAN cannot tell which pages are huge here");
        }
        return bytes;
    }
}
