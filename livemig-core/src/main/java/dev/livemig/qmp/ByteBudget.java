package dev.livemig.qmp;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Bytes that the clients of one server may hold together (their unfinished messages): each takes before it
 * allocates and gives back what it frees. Thread-safe; {@link #used()} never exceeds {@link #limit()}.
 */
final class ByteBudget {
    private final long limit;
    private final AtomicLong used = new AtomicLong();

    ByteBudget(long limit) {
        this.limit = limit;
    }

    /** Takes {@code bytes} if that stays within the limit; false (and nothing taken) otherwise. */
    boolean tryTake(long bytes) {
        long now;
        do {
            now = used.get();
            if (now + bytes > limit) {
                return false;
            }
        } while (!used.compareAndSet(now, now + bytes));
        return true;
    }

    void giveBack(long bytes) {
        used.addAndGet(-bytes);
    }

    long used() {
        return used.get();
    }

    long limit() {
        return limit;
    }
}
