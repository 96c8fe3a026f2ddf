package dev.livemig.migration;

import dev.livemig.machine.DirtyTracker;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RamBlock;
import dev.livemig.testing.Await;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.*;

/** calc-dirty-rate's two measurements, with QEMU's arithmetic (migration/dirtyrate.c). */
class DirtyRateCalculationTest {
    private final Machine machine = Machine.builder("t").ram("ram", 256L << 20).ram("tiny", 64L << 10).build();
    private final RamBlock ram = machine.ramBlock("ram").orElseThrow();

    @AfterEach
    void close() {
        machine.close();
    }

    /** Rewrites every page of the block until stopped, counting the rounds it completed: every sample is dirty. */
    private Thread rewriting(AtomicBoolean stop, AtomicLong rounds) {
        return Thread.ofPlatform().start(() -> {
            for (long round = 1; !stop.get(); round++) {
                for (long p = 0; p < ram.targetPages() && !stop.get(); p++) {
                    ram.memory().set(ValueLayout.JAVA_LONG, p * RamBlock.TARGET_PAGE_SIZE, round);
                }
                rounds.set(round);
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
        var rounds = new AtomicLong();
        Thread writer = rewriting(stop, rounds);
        long[] r;
        long roundsBefore;
        long roundsAfter;
        try {
            // past the first round, which faults every page in, the writer rewrites the whole block in milliseconds
            Await.until("the writer's first round over the block", () -> rounds.get() >= 1);
            roundsBefore = rounds.get();
            // each sampled page must be rewritten between the two hashes 2 s apart: a margin of hundreds of
            // rounds on an idle machine, and still dozens when other processes take most of the CPUs
            r = DirtyRateCalculation.pageSampling(List.of(ram), 4096, 2000, new SplittableRandom(2));
            roundsAfter = rounds.get();
        } finally {
            stop.set(true);
            writer.join();
        }
        // all 1024 samples of 256 MiB changed: QEMU reports 256 MB * 1000 / ms
        assertEquals(256L * 1000 / r[1], r[0], "the writer completed " + (roundsAfter - roundsBefore) + " rounds in " + r[1] + " ms");
    }

    @Test
    void blocksUnder128KiBAreNotSampledAndNothingSampledIsMinusOne() throws Exception {
        long[] r = DirtyRateCalculation.pageSampling(List.of(machine.ramBlock("tiny").orElseThrow()), 4096, 100, new SplittableRandom(3));
        assertEquals(-1, r[0]);
    }

    @Test
    void dirtyBitmapCountsEveryPageWrittenWhileTrackingEvenWithoutMarkDirty() throws Exception {
        ram.markDirty(0, 64L << 20); // written before the measurement: not counted
        var tracking = new CountDownLatch(1);
        var written = new AtomicBoolean();
        Thread writer = Thread.ofPlatform().start(() -> {
            try {
                tracking.await();
            } catch (InterruptedException e) {
                return;
            }
            for (long p = 0; p < 8192; p++) { // 32 MiB of plain writes, no markDirty
                ram.memory().set(ValueLayout.JAVA_BYTE, p * RamBlock.TARGET_PAGE_SIZE + 5, (byte) 1);
            }
            written.set(true);
        });
        // the writes start once tracking is armed and must end within the second it lasts: they take
        // milliseconds, so the second is a margin for a busy machine, not a claim about speed
        long[] r = DirtyRateCalculation.dirtyBitmap(List.of(ram), () -> armed(DirtyTracker.automatic(), tracking), 1000);
        boolean inTime = written.get();
        writer.interrupt();
        writer.join();
        assertTrue(inTime, "the 32 MiB were not all written within the measurement");
        assertEquals((32L * 1000) / r[1], r[0], "32 MiB in " + r[1] + " ms");
    }

    /** {@code tracker}, counting {@code started} down once it has armed tracking of a block. */
    private static DirtyTracker armed(DirtyTracker tracker, CountDownLatch started) {
        return new DirtyTracker() {
            @Override
            public String name() {
                return tracker.name();
            }

            @Override
            public void start(RamBlock block) {
                tracker.start(block);
                started.countDown();
            }

            @Override
            public void collect(RamBlock block) {
                tracker.collect(block);
            }

            @Override
            public void stop(RamBlock block) {
                tracker.stop(block);
            }

            @Override
            public void close() {
                tracker.close();
            }
        };
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
