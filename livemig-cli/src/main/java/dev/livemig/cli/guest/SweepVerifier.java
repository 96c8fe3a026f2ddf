package dev.livemig.cli.guest;

import dev.livemig.machine.RamBlock;

import java.lang.foreign.ValueLayout;

/**
 * Checks RAM swept by {@link PageSweeper} with the rule QEMU's migration test uses: reading the first byte
 * of every page in order, the values are all equal, or they drop by exactly one at a single place (the page
 * the sweep had reached when the machine stopped). Anything else means a page was lost or stale.
 */
public final class SweepVerifier {
    private SweepVerifier() {
    }

    /** Null when the rule holds, else a description of the first violation. */
    public static String check(RamBlock block) {
        long pages = block.targetPages();
        byte first = block.memory().get(ValueLayout.JAVA_BYTE, 0);
        byte prev = first;
        int steps = 0;
        long stepAt = -1;
        for (long p = 1; p < pages; p++) {
            byte v = block.memory().get(ValueLayout.JAVA_BYTE, p * RamBlock.TARGET_PAGE_SIZE);
            if (v != prev) {
                if ((byte) (prev - 1) != v || ++steps > 1) {
                    // where the earlier drop was tells a stale run of pages (and its alignment) from a late write
                    return String.format("page counters break the sweep rule at page %d (offset 0x%x): %d after %d"
                            + " (first page %d%s)", p, p * RamBlock.TARGET_PAGE_SIZE, v & 0xff, prev & 0xff, first & 0xff,
                            stepAt < 0 ? "" : String.format(", the one drop allowed was at page %d (offset 0x%x)",
                                    stepAt, stepAt * RamBlock.TARGET_PAGE_SIZE));
                }
                stepAt = p;
            }
            prev = v;
        }
        if (steps == 1 && prev != (byte) (first - 1)) {
            return "page counters wrap inconsistently: first=" + (first & 0xff) + " last=" + (prev & 0xff);
        }
        return null;
    }
}
