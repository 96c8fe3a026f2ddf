package dev.livemig.machine;

import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.*;

class DirtyBitmapTest {

    @Test
    void nextSetFindsBitsAcrossWordsAndStopsAtTheEnd() {
        var b = new DirtyBitmap(200);
        b.set(3);
        b.set(64);
        b.set(199);
        assertEquals(3, b.nextSet(0));
        assertEquals(64, b.nextSet(4));
        assertEquals(199, b.nextSet(65));
        assertEquals(-1, b.nextSet(200));
        assertEquals(3, b.count());
    }

    @Test
    void nextClearEndsARunOfSetBitsAcrossWordsOrAtTheEnd() {
        var b = new DirtyBitmap(200);
        b.setRange(10, 150);
        assertEquals(0, b.nextClear(0));
        assertEquals(150, b.nextClear(10));
        assertEquals(150, b.nextClear(149));
        b.setRange(150, 200);
        assertEquals(200, b.nextClear(10), "a run up to the last bit ends at the size");
        assertEquals(200, b.nextClear(250));
        var full = new DirtyBitmap(128);
        full.setAll();
        assertEquals(128, full.nextClear(0), "no clear bit in whole words");
    }

    @Test
    void setAllSetsExactlyTheBitmapsSize() {
        var b = new DirtyBitmap(130);
        b.setAll();
        assertEquals(130, b.count());
        assertEquals(-1, b.nextSet(130));
    }

    @Test
    void testAndClearReportsWhetherTheBitWasSet() {
        var b = new DirtyBitmap(10);
        b.set(5);
        assertTrue(b.testAndClear(5));
        assertFalse(b.testAndClear(5));
    }

    @Test
    void drainMovesBitsAndCountsOnlyNewOnes() {
        var log = new DirtyBitmap(100);
        var toSend = new DirtyBitmap(100);
        toSend.set(1);
        log.set(1);
        log.set(2);
        assertEquals(1, log.drainInto(toSend));
        assertEquals(0, log.count());
        assertEquals(2, toSend.count());
    }

    /** A page written while a sync drains must end up either still in the log or in the target: never lost. */
    @RepeatedTest(20)
    void concurrentSetsAreNeverLostByADrain() throws Exception {
        int pages = 1 << 16;
        var log = new DirtyBitmap(pages);
        var target = new DirtyBitmap(pages);
        var start = new CountDownLatch(1);
        var stop = new AtomicBoolean();
        Thread writer = Thread.ofPlatform().start(() -> {
            try {
                start.await();
            } catch (InterruptedException e) {
                return;
            }
            for (int p = 0; p < pages; p++) {
                log.set(p);
            }
            stop.set(true);
        });
        start.countDown();
        while (!stop.get()) {
            log.drainInto(target);
        }
        writer.join();
        log.drainInto(target);
        assertEquals(pages, target.count());
    }
}
