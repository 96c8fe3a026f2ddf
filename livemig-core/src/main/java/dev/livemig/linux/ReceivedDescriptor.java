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

    /** Whether it is still here, neither taken by an owner nor closed. */
    public boolean owned() {
        return owned;
    }

    /** Hands the raw descriptor to its new owner; once only. */
    int take() {
        if (!owned) {
            throw new IllegalStateException("descriptor " + fd + " was already taken or closed");
        }
        owned = false;
        return fd;
    }

    /** The raw descriptor, still owned here (for /proc paths). */
    int fd() {
        if (!owned) {
            throw new IllegalStateException("descriptor " + fd + " was already taken or closed");
        }
        return fd;
    }

    /** What the descriptor refers to, as /proc/self/fd names it (e.g. {@code /memfd:pc.ram (deleted)}). */
    public String target() throws java.io.IOException {
        return java.nio.file.Files.readSymbolicLink(procPath()).toString();
    }

    /** The size of the file it refers to. */
    public long size() throws java.io.IOException {
        return java.nio.file.Files.size(procPath());
    }

    private java.nio.file.Path procPath() {
        if (!owned) {
            throw new IllegalStateException("descriptor " + fd + " was already taken or closed");
        }
        return java.nio.file.Path.of("/proc/self/fd/" + fd);
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
