package dev.livemig.cli.guest;

import dev.livemig.machine.CpuThrottle;
import dev.livemig.machine.RamBlock;
import dev.livemig.vmstate.VmStateDescription;

import java.lang.foreign.ValueLayout;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongConsumer;

/**
 * The demo guest's CPU: a thread that sweeps a RAM block like QEMU's migration-test guest, incrementing the
 * first byte of every 4 KiB page, round after round, and reporting each write as dirty. An optional rate
 * (bytes of pages dirtied per second) paces it, and the machine's CPU throttle (auto-converge) slows it as
 * QEMU's throttle slows a vCPU. {@link #pause()} returns only once the thread has stopped
 * between two pages, so a paused machine's memory is truly still.
 */
public final class PageSweeper {
    private static final int CHUNK_PAGES = 64;

    private final RamBlock block;
    private final CpuThrottle throttle;
    private final long dirtyBytesPerSecond;
    private final LongConsumer onRound;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private boolean runRequested;
    private boolean running;
    private boolean stopped;
    private Thread thread;
    // the guest CPU's registers: migrated (see DESCRIPTION), touched only by the sweep thread or while paused
    private long page; // the next page to increment
    private long round; // completed rounds
    private volatile long pagesWritten; // by this sweeper, counted per chunk: how fast it dirties, for the reports

    /** The sweep position is CPU state: without it a destination would restart the sweep and break its pattern. */
    public static final VmStateDescription<PageSweeper> DESCRIPTION = VmStateDescription.<PageSweeper>builder("cpu")
            .version(1).minimumVersion(1)
            .uint64("page", s -> s.page, (s, v) -> s.page = v)
            .uint64("round", s -> s.round, (s, v) -> s.round = v)
            .postLoad((s, version) -> {
                if (s.page >= s.block.targetPages()) {
                    throw new dev.livemig.wire.MigrationException("cpu: sweep position outside RAM: page=" + s.page);
                }
            })
            .build();

    /**
     * {@code dirtyBytesPerSecond} 0 = as fast as the thread can go; {@code onRound} gets each finished round's
     * number; {@code throttle} is the machine's (auto-converge slows the sweep through it).
     */
    public PageSweeper(RamBlock block, CpuThrottle throttle, long dirtyBytesPerSecond, LongConsumer onRound) {
        this.block = block;
        this.throttle = throttle;
        this.dirtyBytesPerSecond = dirtyBytesPerSecond;
        this.onRound = onRound;
    }

    /** Starts or restarts the sweep. */
    /** Pages written since the sweeper was made (any thread; per chunk of {@value #CHUNK_PAGES}). */
    public long pagesWritten() {
        return pagesWritten;
    }

    public void resume() {
        lock.lock();
        try {
            if (thread == null) {
                thread = Thread.ofPlatform().name("livemig-guest-cpu").daemon().start(this::loop);
            }
            runRequested = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Stops the sweep and waits until it is between two pages. */
    public void pause() {
        lock.lock();
        try {
            runRequested = false;
            changed.signalAll();
            while (running) {
                changed.awaitUninterruptibly();
            }
        } finally {
            lock.unlock();
        }
    }

    /** Ends the thread for good. */
    public void stop() {
        lock.lock();
        try {
            stopped = true;
            runRequested = false;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        if (thread != null) {
            try {
                thread.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void loop() {
        long pages = block.targetPages();
        long startNs = System.nanoTime();
        long dirtied = 0;
        var pacer = throttle.pacer();
        while (awaitRun()) {
            try {
                for (int i = 0; i < CHUNK_PAGES; i++) {
                    long off = page * RamBlock.TARGET_PAGE_SIZE;
                    byte v = block.memory().get(ValueLayout.JAVA_BYTE, off);
                    block.memory().set(ValueLayout.JAVA_BYTE, off, (byte) (v + 1));
                    block.markDirty(off, 1);
                    if (++page == pages) {
                        page = 0;
                        onRound.accept(++round);
                    }
                }
            } finally {
                finishChunk();
            }
            dirtied += CHUNK_PAGES * (long) RamBlock.TARGET_PAGE_SIZE;
            pagesWritten += CHUNK_PAGES; // this thread's only
            try {
                startNs += pacer.pace(); // throttled time is lost to the guest, not caught up afterwards
            } catch (InterruptedException e) {
                return;
            }
            if (dirtyBytesPerSecond > 0) {
                long dueNs = startNs + dirtied * 1_000_000_000L / dirtyBytesPerSecond;
                long waitNs = dueNs - System.nanoTime();
                if (waitNs > 0) {
                    java.util.concurrent.locks.LockSupport.parkNanos(waitNs);
                } else if (waitNs < -1_000_000_000L) {
                    startNs = System.nanoTime(); // after a pause, do not try to catch up
                    dirtied = 0;
                }
            }
        }
    }

    private boolean awaitRun() {
        lock.lock();
        try {
            while (!runRequested && !stopped) {
                changed.awaitUninterruptibly();
            }
            running = !stopped;
            return running;
        } finally {
            lock.unlock();
        }
    }

    private void finishChunk() {
        lock.lock();
        try {
            running = false;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }
}
