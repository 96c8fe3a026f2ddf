package dev.livemig.cli.guest;

import dev.livemig.machine.RamBlock;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.*;

class SweepVerifierTest {
    private static RamBlock block(Arena arena, int... counters) {
        var b = RamBlock.anonymous(arena, "guest.ram", counters.length * 4096L);
        for (int i = 0; i < counters.length; i++) {
            b.memory().set(ValueLayout.JAVA_BYTE, i * 4096L, (byte) counters[i]);
        }
        return b;
    }

    @Test
    void equalCountersOrOneStepDownPass() {
        try (Arena arena = Arena.ofShared()) {
            assertNull(SweepVerifier.check(block(arena, 5, 5, 5, 5)));
            assertNull(SweepVerifier.check(block(arena, 6, 6, 5, 5)));
            assertNull(SweepVerifier.check(block(arena, 0, 0, 255, 255)), "counters wrap at 256");
        }
    }

    @Test
    void aStalePageOrTwoStepsFail() {
        try (Arena arena = Arena.ofShared()) {
            assertNotNull(SweepVerifier.check(block(arena, 6, 6, 4, 4)));
            assertNotNull(SweepVerifier.check(block(arena, 6, 5, 6, 5)));
            assertNotNull(SweepVerifier.check(block(arena, 5, 5, 6, 6)));
            String msg = SweepVerifier.check(block(arena, 7, 7, 3, 7));
            assertTrue(msg.contains("page 2"), msg);
        }
    }
}
