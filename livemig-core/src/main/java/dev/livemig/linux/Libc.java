package dev.livemig.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.lang.ref.Cleaner;

/**
 * The few libc entry points the userfaultfd and pagemap bindings need, with errno captured by the FFM
 * linker (reading errno after the call from Java would see whatever the JVM did in between).
 *
 * <p>Every method may be called from any thread. Methods named {@code ...OrErrno} return a negative errno
 * instead of throwing, for callers that must inspect output buffers even when the call failed.
 */
final class Libc {
    static final int O_RDONLY = 0;
    static final int O_RDWR = 2;
    static final int O_NONBLOCK = 0x800;
    static final int O_CLOEXEC = 0x80000;
    static final int EINTR = 4;
    private static final short POLLIN = 0x1;

    private static final Linker.Option ERRNO = Linker.Option.captureCallState("errno");
    private static final VarHandle ERRNO_HANDLE = Linker.Option.captureStateLayout()
            .varHandle(MemoryLayout.PathElement.groupElement("errno"));

    /**
     * Each thread's errno capture state for the calls made per page or per read, allocated once (of the layout's
     * exact size, which the linker then takes as it is): a confined arena per call made the postcopy page server
     * allocate a few hundred bytes per page, and its young collections stalled faults for milliseconds.
     */
    private static final ThreadLocal<MemorySegment> CALL_STATE =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(Linker.Option.captureStateLayout()));

    private static final MethodHandle SYSCALL1;
    private static final MethodHandle IOCTL_PTR;
    private static final MethodHandle IOCTL_NOARG;
    private static final MethodHandle OPEN;
    private static final MethodHandle CLOSE;
    private static final MethodHandle READ_AT; // the buffer as a raw address: no segment per call
    private static final MethodHandle WRITE_AT;
    private static final MethodHandle SHUTDOWN;
    private static final MethodHandle POLL;

    static {
        Linker linker = Linker.nativeLinker();
        var libc = linker.defaultLookup();
        // syscall(2) and ioctl(2) are variadic: the linker must be told where the variadic part starts
        // so that it passes arguments (and %al on x86_64) the way a C caller would.
        SYSCALL1 = linker.downcallHandle(libc.find("syscall").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG),
                ERRNO, Linker.Option.firstVariadicArg(1));
        IOCTL_PTR = linker.downcallHandle(libc.find("ioctl").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS),
                ERRNO, Linker.Option.firstVariadicArg(2));
        IOCTL_NOARG = linker.downcallHandle(libc.find("ioctl").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG),
                ERRNO, Linker.Option.firstVariadicArg(2));
        OPEN = linker.downcallHandle(libc.find("open").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT),
                ERRNO, Linker.Option.firstVariadicArg(2));
        CLOSE = linker.downcallHandle(libc.find("close").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), ERRNO);
        READ_AT = linker.downcallHandle(libc.find("read").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG), ERRNO);
        WRITE_AT = linker.downcallHandle(libc.find("write").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG), ERRNO);
        SHUTDOWN = linker.downcallHandle(libc.find("shutdown").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), ERRNO);
        POLL = linker.downcallHandle(libc.find("poll").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT), ERRNO);
    }

    /**
     * Closes descriptors whose owner became unreachable without {@code close()}: a safety net, not the
     * normal path. One daemon thread for the package.
     */
    static final Cleaner CLEANER = Cleaner.create();

    private Libc() {
    }

    /** {@code _IOC(dir, type, nr, size)} from asm-generic/ioctl.h: dir 1 = write, 2 = read, 3 = both. */
    static long ioc(int dir, int type, int nr, long size) {
        return ((long) dir << 30) | (size << 16) | ((long) type << 8) | nr;
    }

    private static int errno(MemorySegment state) {
        return (int) ERRNO_HANDLE.get(state, 0L);
    }

    /** A one-argument raw system call; returns its result (a descriptor, for userfaultfd). */
    static long syscall(String name, long number, long arg) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(Linker.Option.captureStateLayout());
            long rc = (long) SYSCALL1.invokeExact(state, number, arg);
            if (rc < 0) {
                throw new NativeCallException(name, errno(state));
            }
            return rc;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(name + " downcall failed", t);
        }
    }

    /** ioctl with a pointer argument; returns its non-negative result, or minus errno. */
    static long ioctlOrErrno(int fd, long request, MemorySegment arg) {
        try {
            MemorySegment state = CALL_STATE.get();
            int rc = (int) IOCTL_PTR.invokeExact(state, fd, request, arg);
            return rc < 0 ? -errno(state) : rc;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("ioctl downcall failed", t);
        }
    }

    /** ioctl with a pointer argument, throwing {@link NativeCallException} naming {@code name} on failure. */
    static int ioctl(String name, int fd, long request, MemorySegment arg) {
        long rc = ioctlOrErrno(fd, request, arg);
        if (rc < 0) {
            throw new NativeCallException("ioctl(" + name + ")", (int) -rc);
        }
        return (int) rc;
    }

    /** ioctl whose third argument is an integer (or absent, passed as 0). */
    static int ioctl(String name, int fd, long request, long arg) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(Linker.Option.captureStateLayout());
            int rc = (int) IOCTL_NOARG.invokeExact(state, fd, request, arg);
            if (rc < 0) {
                throw new NativeCallException("ioctl(" + name + ")", errno(state));
            }
            return rc;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("ioctl downcall failed", t);
        }
    }

    /**
     * read(2) into {@code count} bytes of native {@code buffer} from {@code offset} on, without a slice per call
     * (a stream reader reads into the same buffer again and again); returns the byte count (0 at end of file), or
     * minus errno.
     */
    static long readOrErrno(int fd, MemorySegment buffer, long offset, long count) {
        requireNativeRange(buffer, offset, count);
        try {
            MemorySegment state = CALL_STATE.get();
            long rc = (long) READ_AT.invokeExact(state, fd, buffer.address() + offset, count);
            java.lang.ref.Reference.reachabilityFence(buffer);
            return rc < 0 ? -errno(state) : rc;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("read downcall failed", t);
        }
    }

    /** write(2) of {@code count} bytes of native {@code buffer} from {@code offset} on; the count, or minus errno. */
    static long writeOrErrno(int fd, MemorySegment buffer, long offset, long count) {
        requireNativeRange(buffer, offset, count);
        try {
            MemorySegment state = CALL_STATE.get();
            long rc = (long) WRITE_AT.invokeExact(state, fd, buffer.address() + offset, count);
            java.lang.ref.Reference.reachabilityFence(buffer);
            return rc < 0 ? -errno(state) : rc;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("write downcall failed", t);
        }
    }

    private static void requireNativeRange(MemorySegment buffer, long offset, long count) {
        if (!buffer.isNative()) {
            throw new IllegalArgumentException("a raw read or write needs native memory, not " + buffer);
        }
        java.util.Objects.checkFromIndexSize(offset, count, buffer.byteSize());
    }

    /** shutdown(2) with {@code how} (1: no more writes, 2: neither way); returns 0 or minus errno. */
    static int shutdownOrErrno(int fd, int how) {
        try {
            MemorySegment state = CALL_STATE.get();
            int rc = (int) SHUTDOWN.invokeExact(state, fd, how);
            return rc < 0 ? -errno(state) : rc;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("shutdown downcall failed", t);
        }
    }

    /**
     * Waits up to {@code timeoutMillis} (-1: without limit) until {@code fd} is readable (or has an error or
     * hang-up to report, which the following read then returns); false on timeout. EINTR waits again.
     */
    static boolean pollIn(String what, int fd, int timeoutMillis) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = CALL_STATE.get();
            MemorySegment pfd = a.allocate(8, 4); // struct pollfd {int fd; short events, revents}
            while (true) {
                pfd.set(ValueLayout.JAVA_INT, 0, fd);
                pfd.set(ValueLayout.JAVA_SHORT, 4, POLLIN);
                pfd.set(ValueLayout.JAVA_SHORT, 6, (short) 0);
                int rc = (int) POLL.invokeExact(state, pfd, 1L, timeoutMillis);
                if (rc >= 0) {
                    return rc > 0;
                }
                int errno = errno(state);
                if (errno != EINTR) {
                    throw new NativeCallException("poll(" + what + ")", errno);
                }
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("poll downcall failed", t);
        }
    }

    static int open(String path, int flags) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(Linker.Option.captureStateLayout());
            int fd = (int) OPEN.invokeExact(state, a.allocateFrom(path), flags, 0);
            if (fd < 0) {
                throw new NativeCallException("open(" + path + ")", errno(state));
            }
            return fd;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("open downcall failed", t);
        }
    }

    /** Closes {@code fd}; a failure is reported but the descriptor is gone either way (close(2) never retries). */
    static void close(String what, int fd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(Linker.Option.captureStateLayout());
            int rc = (int) CLOSE.invokeExact(state, fd);
            if (rc < 0) {
                throw new NativeCallException("close(" + what + ")", errno(state));
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("close downcall failed", t);
        }
    }
}
