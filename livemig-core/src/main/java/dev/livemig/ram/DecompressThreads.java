package dev.livemig.ram;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.zip.Inflater;

/**
 * The destination's decompression threads (decompress-threads): the load thread reads a COMPRESS_PAGE payload
 * into an idle worker's buffer and goes on; the worker inflates it into guest memory. At the end of each
 * section body the loader {@link #drain}s, so every page is in place before the next section (and a later
 * record for the same page, which the source sends only after a flush) and the first error is reported
 * with its record's offset. Only the load thread calls {@link #idle}, {@link #start} and {@link #drain}.
 */
final class DecompressThreads implements AutoCloseable {
    /** A payload that did not inflate to one page, and the stream offset of its record. */
    record Failure(long recordOffset, String reason) {
    }

    private final WorkerSignals signals = new WorkerSignals();
    private final ReentrantLock lock = signals.lock;
    private final Condition changed = signals.changed;
    private final Worker[] workers;
    private Failure failure; // guarded by lock; the first one

    DecompressThreads(int threads) {
        workers = new Worker[threads];
        for (int i = 0; i < threads; i++) {
            Worker w = new Worker();
            workers[i] = w;
            w.thread = Thread.ofPlatform().name("livemig-decompress-" + i).daemon().start(w::run);
        }
    }

    /** Waits for a worker with nothing to do; its {@link Worker#input} may then be filled. */
    Worker idle() {
        lock.lock();
        try {
            while (true) {
                for (Worker w : workers) {
                    if (!w.busy) {
                        return w;
                    }
                }
                changed.awaitUninterruptibly();
            }
        } finally {
            lock.unlock();
        }
    }

    /** Hands {@code w} its filled input: {@code length} bytes to inflate into {@code target}. */
    void start(Worker w, int length, MemorySegment target, long recordOffset) {
        lock.lock();
        try {
            w.length = length;
            w.target = target;
            w.recordOffset = recordOffset;
            w.busy = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Waits while a worker is still inflating into {@code page}: a later record for the same page must land
     * after it (the source sends it only after the compressed one, but the worker may still be busy).
     */
    void awaitPage(MemorySegment page) {
        lock.lock();
        try {
            for (Worker w : workers) {
                while (w.busy && w.target.address() == page.address()) {
                    changed.awaitUninterruptibly();
                }
            }
        } finally {
            lock.unlock();
        }
    }

    /** Waits until every worker is idle; returns the first failure since the last drain, or null. */
    Failure drain() {
        lock.lock();
        try {
            for (Worker w : workers) {
                while (w.busy) {
                    changed.awaitUninterruptibly();
                }
            }
            Failure f = failure;
            failure = null;
            return f;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void close() {
        signals.stop(java.util.Arrays.stream(workers).map(w -> w.thread).toList());
    }

    final class Worker {
        final byte[] input = new byte[CompressedPage.MAX_LENGTH];
        private final Inflater inflater = new Inflater();
        private Thread thread;
        private boolean busy;          // guarded by lock
        private int length;            // guarded by lock
        private MemorySegment target;  // guarded by lock
        private long recordOffset;     // guarded by lock

        private void run() {
            try {
                while (true) {
                    int n;
                    MemorySegment page;
                    long at;
                    lock.lock();
                    try {
                        while (!busy && !signals.stopped()) {
                            changed.awaitUninterruptibly();
                        }
                        if (signals.stopped()) {
                            return;
                        }
                        n = length;
                        page = target;
                        at = recordOffset;
                    } finally {
                        lock.unlock();
                    }
                    String problem = null;
                    try {
                        CompressedPage.decode(input, n, inflater, page);
                    } catch (CompressedPage.Malformed e) {
                        problem = e.getMessage();
                    } catch (RuntimeException e) {
                        problem = "decompression failed: " + e; // e.g. the machine's memory went away
                    }
                    lock.lock();
                    try {
                        if (problem != null && failure == null) {
                            failure = new Failure(at, problem);
                        }
                        busy = false;
                        changed.signalAll();
                    } finally {
                        lock.unlock();
                    }
                }
            } finally {
                inflater.end();
            }
        }
    }
}
