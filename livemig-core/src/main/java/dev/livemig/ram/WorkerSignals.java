package dev.livemig.ram;

import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The lock, condition and stop flag that a small pool of page workers (compression, decompression) shares
 * with the thread feeding it: every state change is made under {@link #lock} and announced on
 * {@link #changed}.
 */
final class WorkerSignals {
    final ReentrantLock lock = new ReentrantLock();
    final Condition changed = lock.newCondition();
    private boolean stopped; // guarded by lock

    /** True once {@link #stop} was called; read with the lock held. */
    boolean stopped() {
        return stopped;
    }

    /** Tells every worker to end and waits for them; a worker finishes the page it holds first. */
    void stop(List<Thread> workers) {
        lock.lock();
        try {
            stopped = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        for (Thread t : workers) {
            try {
                t.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
