package dev.livemig.qmp;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.util.ArrayDeque;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The lines a session has still to write to its client, bounded in bytes. Any thread offers (the session's
 * reader its replies, a migration or another client's command an event); one writer thread drains. Offering
 * and ending happen under one lock, so a line offered while the session ends is either written before the
 * writer stops or refused as {@link Offer#ENDED}: never queued behind the end and silently lost.
 */
final class Outbox {
    enum Offer {
        QUEUED,
        /** The client is this far behind: it is not reading. */
        FULL,
        /** The session is ending; nothing more is taken. */
        ENDED
    }

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final ArrayDeque<byte[]> queue = new ArrayDeque<>();
    private final long limit;
    /** Queued, or taken by the writer and not yet written. */
    private long pending;
    private boolean ended;

    Outbox(long limitBytes) {
        this.limit = limitBytes;
    }

    /** Queues {@code line} (not copied: it must not change), unless that would pass the limit; an empty outbox takes any line. */
    Offer offer(byte[] line) {
        lock.lock();
        try {
            if (ended) {
                return Offer.ENDED;
            }
            if (pending > 0 && pending + line.length > limit) {
                return Offer.FULL;
            }
            queue.add(line);
            pending += line.length;
            changed.signalAll();
            return Offer.QUEUED;
        } finally {
            lock.unlock();
        }
    }

    /** Takes nothing more; what is queued is still written. */
    void end() {
        lock.lock();
        try {
            ended = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Takes nothing more and forgets what is queued: the client will not get it. */
    void discard() {
        lock.lock();
        try {
            ended = true;
            pending -= queue.stream().mapToLong(l -> l.length).sum();
            queue.clear();
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Bytes not yet written. */
    long pendingBytes() {
        lock.lock();
        try {
            return pending;
        } finally {
            lock.unlock();
        }
    }

    /** On the writer thread: writes lines in order until the outbox has ended and is empty. */
    void drainTo(WritableByteChannel channel) throws IOException, InterruptedException {
        while (true) {
            byte[] line;
            lock.lock();
            try {
                while (queue.isEmpty() && !ended) {
                    changed.await();
                }
                line = queue.poll();
                if (line == null) {
                    return;
                }
            } finally {
                lock.unlock();
            }
            try {
                ByteBuffer bytes = ByteBuffer.wrap(line);
                while (bytes.hasRemaining()) {
                    channel.write(bytes);
                }
            } finally {
                lock.lock();
                try {
                    pending -= line.length; // written, or lost with the connection
                } finally {
                    lock.unlock();
                }
            }
        }
    }
}
