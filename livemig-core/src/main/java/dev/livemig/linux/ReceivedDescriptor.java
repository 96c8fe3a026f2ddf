package dev.livemig.linux;

/**
 * A descriptor that arrived from another process ({@link UnixSocket#receiveDescriptors}), owned here until a
 * typed owner takes it (e.g. {@link Userfaultfd#adopt}); closing it before that closes the descriptor, so
 * none leaks when the receiver gives up half-way.
 *
 * <p>One thread at a time.
 */
public final class ReceivedDescriptor implements AutoCloseable {
    private final int fd;
    private boolean owned = true;

    ReceivedDescriptor(int fd) {
        this.fd = fd;
    }

    /** Hands the raw descriptor to its new owner; once only. */
    int take() {
        if (!owned) {
            throw new IllegalStateException("descriptor " + fd + " was already taken or closed");
        }
        owned = false;
        return fd;
    }

    /** Closes the descriptor unless a typed owner took it. */
    @Override
    public void close() {
        if (owned) {
            owned = false;
            Libc.close("received descriptor", fd);
        }
    }

    @Override
    public String toString() {
        return "ReceivedDescriptor[" + fd + (owned ? "" : ", taken") + "]";
    }
}
