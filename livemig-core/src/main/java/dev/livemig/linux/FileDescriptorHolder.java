package dev.livemig.linux;

import java.lang.ref.Cleaner;

/**
 * Owns one raw descriptor: closes it exactly once, either when the owner calls {@link #close()} or, as a
 * safety net, when the owner becomes unreachable (through {@link Libc#CLEANER}). The cleaning action must
 * not refer to the owner, which is why the descriptor lives here and not in the owner.
 *
 * <p>{@link #fd()} may be called from any thread; it fails once the descriptor is closed. Closing while
 * another thread is inside a call using the descriptor is the owner's contract to prevent (the number
 * could be reused by an unrelated open).
 */
final class FileDescriptorHolder implements AutoCloseable {
    private final String what;
    private final int fd;
    private final Cleaner.Cleanable cleanable;
    private volatile boolean open = true;

    FileDescriptorHolder(Object owner, String what, int fd) {
        this.what = what;
        this.fd = fd;
        this.cleanable = Libc.CLEANER.register(owner, new CloseAction(what, fd));
    }

    int fd() {
        if (!open) {
            throw new IllegalStateException(what + " is closed");
        }
        return fd;
    }

    @Override
    public void close() {
        open = false;
        cleanable.clean(); // runs CloseAction at most once, whoever gets there first
    }

    private record CloseAction(String what, int fd) implements Runnable {
        @Override
        public void run() {
            Libc.close(what, fd);
        }
    }
}
