package dev.livemig.cli;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.*;

class PeakMemoryTest {
    @Test
    void thePeakCountsMemoryThisProcessTouchedAndNeverGoesDown() {
        long before = PeakMemory.peakResidentBytes();
        assertTrue(before > 0, "Linux reports VmHWM");
        long size = 256L << 20;
        try (Arena arena = Arena.ofConfined()) {
            var block = arena.allocate(size, 4096);
            for (long off = 0; off < size; off += 4096) {
                block.set(ValueLayout.JAVA_BYTE, off, (byte) 1);
            }
        }
        long after = PeakMemory.peakResidentBytes();
        assertTrue(after >= size, "256 MiB touched, peak " + after);
        assertTrue(after >= before);
    }
}
