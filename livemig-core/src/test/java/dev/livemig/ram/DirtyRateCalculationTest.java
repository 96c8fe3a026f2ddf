package dev.livemig.ram;

import dev.livemig.machine.DirtyTracker;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RamBlock;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.*;

/** calc-dirty-rate's two measurements, with QEMU's arithmetic (migration/dirtyrate.c). */
class DirtyRateCalculationTest {
    private final Machine machine = Machine.builder("t").ram("ram", 256L << 20).ram("tiny", 64L << 10).build();
    private final RamBlock ram = machine.ramBlock("ram").orElseThrow();

    @AfterEach
    void close() {
        machine.close();
    }

    /** Rewrites every page of the block until stopped: every sample is dirty. */
    private Thread rewriting(AtomicBoolean stop) {
        return Thread.ofPlatform().start(() -> {
            for (long round = 1; !stop.get(); round++) {
                for (long p = 0; p < ram.targetPages() && !stop.get(); p++) {
                    ram.memory().set(ValueLayout.JAVA_LONG, p * RamBlock.TARGET_PAGE_SIZE, round);
                }
            }
        });
    }

    @Test
    void pageSamplingOfAnIdleMachineIsZero() throws Exception {
        long[] r = DirtyRateCalculation.pageSampling(machine.ramBlocks(), 512, 200, new SplittableRandom(1));
        assertEquals(0, r[0]);
        assertTrue(r[1] >= 200, "at least calc-time passed: " + r[1]);
    }

    @Test
    void pageSamplingCountsChangedSamplesScaledToTheBlocksSize() throws Exception {
        var stop = new AtomicBoolean();
        Thread writer = rewriting(stop);
        long[] r;
        try {
            Thread.sleep(50); // the writer is in its first round; every page changes within the window
            r = DirtyRateCalculation.pageSampling(List.of(ram), 4096, 2000, new SplittableRandom(2));
        } finally {
            stop.set(true);
            writer.join();
        }
        // all 1024 samples of 256 MiB changed: QEMU reports 256 MB * 1000 / ms
        assertEquals(256L * 1000 / r[1], r[0]);
    }

    @Test
    void blocksUnder128KiBAreNotSampledAndNothingSampledIsMinusOne() throws Exception {
        long[] r = DirtyRateCalculation.pageSampling(List.of(machine.ramBlock("tiny").orElseThrow()), 4096, 100, new SplittableRandom(3));
        assertEquals(-1, r[0]);
    }

    @Test
    void dirtyBitmapCountsEveryPageWrittenWhileTrackingEvenWithoutMarkDirty() throws Exception {
        ram.markDirty(0, 64L << 20); // written before the measurement: not counted
        Thread writer = Thread.ofPlatform().start(() -> {
            try {
                Thread.sleep(150);
            } catch (InterruptedException e) {
                return;
            }
            for (long p = 0; p < 8192; p++) { // 32 MiB of plain writes, no markDirty
                ram.memory().set(ValueLayout.JAVA_BYTE, p * RamBlock.TARGET_PAGE_SIZE + 5, (byte) 1);
            }
        });
        long[] r = DirtyRateCalculation.dirtyBitmap(List.of(ram), DirtyTracker::automatic, 1000);
        writer.join();
        assertEquals((32L * 1000) / r[1], r[0], "32 MiB in " + r[1] + " ms");
    }

    @Test
    void startChecksArgumentsWithQemusTexts() throws Exception {
        try (var calc = new DirtyRateCalculation(machine, DirtyTracker::automatic)) {
            assertEquals("unstarted", calc.info().toJson().string("status"));
            assertEquals("calc-time is out of range[1, 60].",
                    assertThrows(dev.livemig.wire.MigrationException.class, () -> calc.start(0, null, DirtyRateCalculation.Mode.PAGE_SAMPLING, false)).getMessage());
            assertEquals("calc-time is out of range[1, 60].",
                    assertThrows(dev.livemig.wire.MigrationException.class, () -> calc.start(61, null, DirtyRateCalculation.Mode.PAGE_SAMPLING, false)).getMessage());
            assertEquals("sample-pages is out of range[128, 16384].",
                    assertThrows(dev.livemig.wire.MigrationException.class, () -> calc.start(1, 127L, DirtyRateCalculation.Mode.PAGE_SAMPLING, false)).getMessage());
            assertEquals("sample-pages is used only in page-sampling mode",
                    assertThrows(dev.livemig.wire.MigrationException.class, () -> calc.start(1, 256L, DirtyRateCalculation.Mode.DIRTY_BITMAP, false)).getMessage());
            assertEquals("mode dirty-ring is not enabled, use other method instead.",
                    assertThrows(dev.livemig.wire.MigrationException.class, () -> calc.start(1, null, DirtyRateCalculation.Mode.DIRTY_RING, false)).getMessage());
            assertTrue(assertThrows(dev.livemig.wire.MigrationException.class,
                    () -> calc.start(1, null, DirtyRateCalculation.Mode.DIRTY_BITMAP, true)).getMessage().contains("running migration"));
            assertEquals("unstarted", calc.info().toJson().string("status"), "a refused start changes nothing");
        }
    }
}
