package dev.livemig.ram;

import dev.livemig.machine.RamBlock;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamWriter;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.zip.Deflater;

/**
 * QEMU 7.2's compression threads (capability compress): the migration thread hands a page to an idle worker,
 * which deflates a private copy of it into a whole COMPRESS_PAGE record (CONTINUE set: the saver only hands
 * over pages of the block it last named). A finished record is written to the stream when its worker is
 * reused or at a {@link #flush}, so records may leave in another order than pages were found; the saver
 * flushes before naming another block and before a page can be sent again (round wrap, end of section).
 * Only the migration thread calls {@link #submit} and {@link #flush}.
 */
final class CompressThreads implements AutoCloseable {
    private final WorkerSignals signals = new WorkerSignals();
    private final ReentrantLock lock = signals.lock;
    private final Condition changed = signals.changed;
    private final Worker[] workers;
    private final boolean waitForWorker;
    private final RamCounters counters;

    CompressThreads(RamOptions options, RamCounters counters) {
        this.waitForWorker = options.compressWaitThread();
        this.counters = counters;
        this.workers = new Worker[options.compressThreads()];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = new Worker(options.compressLevel());
            Worker w = workers[i];
            w.thread = Thread.ofPlatform().name("livemig-compress-" + i).daemon().start(() -> w.run());
        }
    }

    /**
     * Gives the page at {@code offset} of the current block to a worker. Returns false, without waiting,
     * when every worker is busy and compress-wait-thread is off: the caller then sends it as a normal page.
     */
    boolean submit(StreamWriter out, long offset, MemorySegment page) throws MigrationException {
        lock.lock();
        try {
            while (true) {
                for (Worker w : workers) {
                    if (!w.busy) {
                        w.writeResult(out);
                        MemorySegment.copy(page, 0, w.page, 0, RamBlock.TARGET_PAGE_SIZE); // the guest may write on
                        w.offset = offset;
                        w.busy = true;
                        changed.signalAll();
                        return true;
                    }
                }
                if (!waitForWorker) {
                    counters.compressBusy.incrementAndGet();
                    return false;
                }
                changed.awaitUninterruptibly();
            }
        } finally {
            lock.unlock();
        }
    }

    /** Waits for every worker and writes every finished record. */
    void flush(StreamWriter out) throws MigrationException {
        lock.lock();
        try {
            for (Worker w : workers) {
                while (w.busy) {
                    changed.awaitUninterruptibly();
                }
                w.writeResult(out);
            }
        } finally {
            lock.unlock();
        }
    }

    /** Stops the workers; unwritten records are dropped (the migration is over or failed). */
    @Override
    public void close() {
        signals.stop(java.util.Arrays.stream(workers).map(w -> w.thread).toList());
    }

    private final class Worker {
        private final Deflater deflater;
        private final MemorySegment page = MemorySegment.ofArray(new byte[RamBlock.TARGET_PAGE_SIZE]);
        private final byte[] payload = new byte[CompressedPage.MAX_LENGTH];
        private Thread thread;
        private long offset;      // guarded by lock
        private boolean busy;     // guarded by lock
        private int resultLength; // guarded by lock; -1: no result waiting
        private long resultOffset;

        Worker(int level) {
            this.deflater = new Deflater(level);
            this.resultLength = -1;
        }

        void run() {
            try {
                while (true) {
                    long at;
                    lock.lock();
                    try {
                        while (!busy && !signals.stopped()) {
                            changed.awaitUninterruptibly();
                        }
                        if (signals.stopped()) {
                            return;
                        }
                        at = offset;
                    } finally {
                        lock.unlock();
                    }
                    int n = CompressedPage.encode(page, deflater, payload);
                    lock.lock();
                    try {
                        resultOffset = at;
                        resultLength = n;
                        busy = false;
                        changed.signalAll();
                    } finally {
                        lock.unlock();
                    }
                }
            } finally {
                deflater.end();
            }
        }

        /** Called with the lock held, by the migration thread. */
        void writeResult(StreamWriter out) throws MigrationException {
            if (resultLength < 0) {
                return;
            }
            // the saver counts these bytes with the rest of the section body it is writing
            out.be64(resultOffset | RamFlags.COMPRESS_PAGE | RamFlags.CONTINUE).be32(resultLength).bytes(payload, 0, resultLength);
            counters.compressedPages.incrementAndGet();
            counters.compressedBytes.addAndGet(resultLength);
            resultLength = -1;
        }
    }
}
