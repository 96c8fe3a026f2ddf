package dev.livemig.machine;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.*;

/** The fallback tracker: the dirty log stays exactly what markDirty made it. */
class DirtyTrackerExplicitTest {

    @Test
    void markDirtyBehaviourIsUnchanged() {
        try (Arena arena = Arena.ofConfined(); DirtyTracker tracker = new ExplicitDirtyTracker()) {
            RamBlock block = RamBlock.anonymous(arena, "ram", 64 * 4096);
            tracker.start(block);
            block.memory().set(ValueLayout.JAVA_INT, 20 * 4096, 1); // unreported: stays invisible
            block.markDirty(4095, 2);
            block.markDirty(10 * 4096, 4096);
            tracker.collect(block);
            assertTrue(block.dirtyLog().get(0));
            assertTrue(block.dirtyLog().get(1));
            assertTrue(block.dirtyLog().get(10));
            assertEquals(3, block.dirtyLog().count());
            tracker.collect(block);
            assertEquals(3, block.dirtyLog().count(), "collect neither adds nor drains");
            tracker.stop(block);
            block.markDirty(30 * 4096, 1);
            assertTrue(block.dirtyLog().get(30), "markDirty still logs after stop");
        }
    }

    @Test
    void theNameSaysWhyTheTransparentTrackerIsMissing() {
        assertEquals("explicit", new ExplicitDirtyTracker().name());
        assertEquals("explicit (userfaultfd WP_ASYNC unavailable: userfaultfd(2) errno=38 ENOSYS)",
                new ExplicitDirtyTracker("userfaultfd WP_ASYNC unavailable: userfaultfd(2) errno=38 ENOSYS").name());
    }
}
