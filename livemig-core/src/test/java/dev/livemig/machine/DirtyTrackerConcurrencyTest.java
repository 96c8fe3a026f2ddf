package dev.livemig.machine;


import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Two writer threads store into random pages while the test thread collects in a loop, with randomised
 * pacing on every side. Collect number k runs while {@code epoch == k}; a writer reads the epoch before each
 * store, so a store tagged e began after collect e-1 had finished and must be reported by a collect numbered
 * e or later. Checked per page for the last store: a lost write (re-protected but not reported) fails it.
 * Also checked: nothing is reported that was never written. Run over 4 KiB pages and over huge pages, where
 * the first store into each protected huge page splits it while the other writer and the scan run.
 */
class DirtyTrackerConcurrencyTest {
    private static final int PAGES = 1024;
    private static final long PAGE = RamBlock.TARGET_PAGE_SIZE;
    private static final int MIN_STORES = 1000;

    static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> seeds() {
        return java.util.Arrays.stream(PageBacking.values()).flatMap(backing -> java.util.stream.IntStream.rangeClosed(1, 20)
                .mapToObj(i -> org.junit.jupiter.params.provider.Arguments.of(backing, 0x5eed0000L + i)));
    }

    @org.junit.jupiter.params.ParameterizedTest(name = "{0} pages, seed {1}")
    @org.junit.jupiter.params.provider.MethodSource("seeds")
    void writesRacingWithCollectAreNeverLost(PageBacking backing, long seed) throws Exception {
        dev.livemig.host.HostAssumptions.assumeUserfaultfdWriteProtect(); // plain stores, no markDirty
        dev.livemig.host.HostAssumptions.assumePagemapScan();
        try (Arena arena = Arena.ofShared(); DirtyTracker tracker = DirtyTracker.automatic()) {
            assertInstanceOf(UffdDirtyTracker.class, tracker, tracker.name());
            RamBlock block = backing.block(arena, "ram", PAGES * PAGE); // 4 MiB: two huge pages when HUGE
            tracker.start(block);

            AtomicInteger epoch = new AtomicInteger();
            AtomicIntegerArray lastWriteEpoch = new AtomicIntegerArray(PAGES); // -1: never written
            for (int p = 0; p < PAGES; p++) {
                lastWriteEpoch.set(p, -1);
            }
            AtomicBoolean running = new AtomicBoolean(true);
            AtomicIntegerArray stores = new AtomicIntegerArray(2);
            CountDownLatch go = new CountDownLatch(1);
            List<Throwable> failures = new ArrayList<>();
            List<Thread> writers = new ArrayList<>();
            for (int w = 0; w < 2; w++) {
                SplittableRandom rnd = new SplittableRandom(seed * 31 + w);
                int id = w;
                Thread t = Thread.ofPlatform().name("writer-" + w).start(() -> {
                    try {
                        go.await();
                        while (running.get()) {
                            int burst = 1 + rnd.nextInt(64);
                            for (int i = 0; i < burst; i++) {
                                int p = rnd.nextInt(PAGES);
                                int e = epoch.get();
                                block.memory().set(ValueLayout.JAVA_LONG, p * PAGE + id * 8L, e);
                                lastWriteEpoch.accumulateAndGet(p, e, Math::max);
                                stores.incrementAndGet(id);
                            }
                            pause(rnd);
                        }
                    } catch (Throwable e) {
                        synchronized (failures) {
                            failures.add(e);
                        }
                    }
                });
                writers.add(t);
            }

            int[] lastReported = new int[PAGES];
            java.util.Arrays.fill(lastReported, -1);
            SplittableRandom rnd = new SplittableRandom(seed);
            go.countDown();
            int collects = 50 + rnd.nextInt(100);
            // A loaded machine may not schedule the writers at once: keep collecting until both have raced.
            for (int k = 0; k < collects || stores.get(0) < MIN_STORES || stores.get(1) < MIN_STORES; k++) {
                pause(rnd);
                harvest(tracker, block, epoch, lastReported);
            }
            running.set(false);
            for (Thread t : writers) {
                t.join();
            }
            harvest(tracker, block, epoch, lastReported); // the final sync, writers stopped
            assertEquals(List.of(), failures);

            int written = 0;
            for (int p = 0; p < PAGES; p++) {
                int w = lastWriteEpoch.get(p);
                if (w >= 0) {
                    written++;
                    assertTrue(lastReported[p] >= w, "page " + p + " last written in epoch " + w
                            + " but last reported by collect " + lastReported[p] + " (seed " + seed + ")");
                } else {
                    assertEquals(-1, lastReported[p], "page " + p + " reported but never written (seed " + seed + ")");
                }
            }
            assertTrue(written > 0, "no page was written");
        }
    }

    /** One collect in the current epoch; records which pages it reported, then opens the next epoch. */
    private static void harvest(DirtyTracker tracker, RamBlock block, AtomicInteger epoch, int[] lastReported) {
        int k = epoch.get();
        tracker.collect(block);
        DirtyBitmap log = block.dirtyLog();
        for (long p = log.nextSet(0); p >= 0; p = log.nextSet(p + 1)) {
            if (log.testAndClear(p)) {
                lastReported[(int) p] = k;
            }
        }
        epoch.incrementAndGet();
    }

    private static void pause(SplittableRandom rnd) {
        switch (rnd.nextInt(4)) {
            case 0 -> { }
            case 1 -> Thread.onSpinWait();
            case 2 -> Thread.yield();
            default -> {
                long until = System.nanoTime() + rnd.nextInt(200_000);
                while (System.nanoTime() < until) {
                    Thread.onSpinWait();
                }
            }
        }
    }
}
