package dev.livemig.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * memfd_create(2) (Linux 3.17+): anonymous memory with a file descriptor, which a process can hand to its
 * successor: cpr-transfer hands guest RAM kept in such files to the new process ({@link MemoryFile#memfd}), and
 * {@code livemig check} asks whether the kernel allows it.
 */
public final class Memfd {
    private static final int MFD_CLOEXEC = 1;
    private static final Linker.Option ERRNO = Linker.Option.captureCallState("errno");
    private static final VarHandle ERRNO_HANDLE = Linker.Option.captureStateLayout()
            .varHandle(java.lang.foreign.MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle MEMFD_CREATE;

    static {
        Linker linker = Linker.nativeLinker();
        MEMFD_CREATE = linker.defaultLookup().find("memfd_create")
                .map(f -> linker.downcallHandle(f, FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS,
                        ValueLayout.JAVA_INT), ERRNO))
                .orElse(null);
    }

    private Memfd() {
    }

    /** A new memfd named {@code name} (close-on-exec), empty; the caller owns the descriptor. */
    static int create(String name) {
        if (MEMFD_CREATE == null) {
            throw new UnsupportedOperationException("the C library has no memfd_create");
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(Linker.Option.captureStateLayout());
            int fd = (int) MEMFD_CREATE.invokeExact(state, a.allocateFrom(name), MFD_CLOEXEC);
            if (fd < 0) {
                throw new NativeCallException("memfd_create", (int) ERRNO_HANDLE.get(state, 0L));
            }
            return fd;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("memfd_create downcall failed", t);
        }
    }

    /**
     * Creates and closes a memfd named {@code name}.
     *
     * @throws NativeCallException when memfd_create fails (ENOSYS: no memfd; EPERM: forbidden by seccomp)
     * @throws UnsupportedOperationException when the C library has no memfd_create
     */
    public static void probe(String name) {
        Libc.close("memfd", create(name));
    }
}
