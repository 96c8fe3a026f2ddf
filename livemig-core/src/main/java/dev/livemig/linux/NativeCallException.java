package dev.livemig.linux;

/**
 * A Linux system call or ioctl that failed, naming the call and the errno it set.
 *
 * <p>Thrown by the FFM bindings in this package; callers decide whether the failure means "feature
 * unavailable" (e.g. {@code ENOSYS}, {@code EINVAL} on an unknown ioctl) or a real error.
 */
public final class NativeCallException extends RuntimeException {
    private final String call;
    private final int errno;

    public NativeCallException(String call, int errno) {
        super(call + " failed: errno=" + errno + " " + errnoName(errno));
        this.call = call;
        this.errno = errno;
    }

    /** The failed call as written in the message, e.g. {@code ioctl(UFFDIO_API)}. */
    public String call() {
        return call;
    }

    public int errno() {
        return errno;
    }

    /** The symbolic name of the errno values these bindings can meet, or {@code "?"}. */
    public static String errnoName(int errno) {
        return switch (errno) {
            case 1 -> "EPERM";
            case 2 -> "ENOENT";
            case 4 -> "EINTR";
            case 9 -> "EBADF";
            case 11 -> "EAGAIN";
            case 12 -> "ENOMEM";
            case 13 -> "EACCES";
            case 14 -> "EFAULT";
            case 16 -> "EBUSY";
            case 17 -> "EEXIST";
            case 22 -> "EINVAL";
            case 24 -> "EMFILE";
            case 25 -> "ENOTTY";
            case 28 -> "ENOSPC";
            case 32 -> "EPIPE";
            case 38 -> "ENOSYS";
            case 88 -> "ENOTSOCK";
            case 95 -> "EOPNOTSUPP";
            case 98 -> "EADDRINUSE";
            case 104 -> "ECONNRESET";
            case 111 -> "ECONNREFUSED";
            default -> "?";
        };
    }
}
