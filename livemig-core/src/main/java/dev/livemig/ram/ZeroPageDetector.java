package dev.livemig.ram;

import dev.livemig.machine.RamBlock;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Tells whether a target page is all zero, by {@link MemorySegment#mismatch} against a zero page (the JDK
 * vectorises it). Stateless; the zero page is an immutable constant.
 */
public final class ZeroPageDetector {
    private static final MemorySegment ZERO_PAGE = Arena.global().allocate(RamBlock.TARGET_PAGE_SIZE);

    private ZeroPageDetector() {
    }

    public static boolean isZero(MemorySegment page) {
        if (page.byteSize() == RamBlock.TARGET_PAGE_SIZE) {
            return page.mismatch(ZERO_PAGE) == -1;
        }
        for (long off = 0; off < page.byteSize(); off += RamBlock.TARGET_PAGE_SIZE) {
            long len = Math.min(RamBlock.TARGET_PAGE_SIZE, page.byteSize() - off);
            if (MemorySegment.mismatch(page, off, off + len, ZERO_PAGE, 0, len) != -1) {
                return false;
            }
        }
        return true;
    }
}
