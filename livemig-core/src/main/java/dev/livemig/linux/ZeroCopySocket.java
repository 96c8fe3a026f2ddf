package dev.livemig.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A connected TCP socket whose page writes use {@code MSG_ZEROCOPY} (Linux 4.14+): the kernel sends straight
 * from the pages given, without copying them into socket buffers, and later reports on the socket's error
 * queue which sends are done with their pages (and whether it had to copy after all, as it always does over
 * loopback). Small writes ({@link #send}) go the ordinary way. {@link #flush} waits for every report, as
 * QEMU's zero-copy flush at each multifd sync point does.
 *
 * <p>One writer thread; {@link #shutdown} may be called from any thread to unblock it, {@link #close} only
 * once that thread is done with the socket.
 */
public final class ZeroCopySocket implements AutoCloseable {
    private static final int AF_INET = 2;
    private static final int AF_INET6 = 10;
    private static final int SOCK_STREAM = 1;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int IPPROTO_TCP = 6;
    private static final int TCP_NODELAY = 1;
    private static final int SOL_SOCKET = 1;
    private static final int SO_ZEROCOPY = 60;
    private static final int MSG_DONTWAIT = 0x40;
    private static final int MSG_ERRQUEUE = 0x2000;
    private static final int MSG_NOSIGNAL = 0x4000;
    private static final int MSG_ZEROCOPY = 0x4000000;
    private static final int SO_EE_ORIGIN_ZEROCOPY = 5;
    private static final int SO_EE_CODE_ZEROCOPY_COPIED = 1;
    private static final short POLLERR = 0x8;
    private static final int SHUT_RDWR = 2;
    private static final int EINTR = 4;
    private static final int EAGAIN = 11;
    private static final int ENOBUFS = 105;
    private static final int MAX_IOV = 1024; // IOV_MAX

    private static final Linker.Option ERRNO = Linker.Option.captureCallState("errno");
    private static final VarHandle ERRNO_HANDLE = Linker.Option.captureStateLayout()
            .varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle SOCKET;
    private static final MethodHandle CONNECT;
    private static final MethodHandle SETSOCKOPT;
    private static final MethodHandle SENDMSG;
    private static final MethodHandle RECVMSG;
    private static final MethodHandle POLL;
    private static final MethodHandle SHUTDOWN;

    static {
        Linker linker = Linker.nativeLinker();
        var libc = linker.defaultLookup();
        var I = ValueLayout.JAVA_INT;
        var L = ValueLayout.JAVA_LONG;
        var P = ValueLayout.ADDRESS;
        SOCKET = linker.downcallHandle(libc.find("socket").orElseThrow(), FunctionDescriptor.of(I, I, I, I), ERRNO);
        CONNECT = linker.downcallHandle(libc.find("connect").orElseThrow(), FunctionDescriptor.of(I, I, P, I), ERRNO);
        SETSOCKOPT = linker.downcallHandle(libc.find("setsockopt").orElseThrow(), FunctionDescriptor.of(I, I, I, I, P, I), ERRNO);
        SENDMSG = linker.downcallHandle(libc.find("sendmsg").orElseThrow(), FunctionDescriptor.of(L, I, P, I), ERRNO);
        RECVMSG = linker.downcallHandle(libc.find("recvmsg").orElseThrow(), FunctionDescriptor.of(L, I, P, I), ERRNO);
        POLL = linker.downcallHandle(libc.find("poll").orElseThrow(), FunctionDescriptor.of(I, P, L, I), ERRNO);
        SHUTDOWN = linker.downcallHandle(libc.find("shutdown").orElseThrow(), FunctionDescriptor.of(I, I, I), ERRNO);
    }

    private final FileDescriptorHolder fd;
    private final String description;
    private final ReentrantReadWriteLock use = new ReentrantReadWriteLock(); // calls hold read; close holds write
    private final Arena arena = Arena.ofShared();
    private final MemorySegment state = arena.allocate(Linker.Option.captureStateLayout());
    private final MemorySegment msg = arena.allocate(56, 8);            // struct msghdr
    private final MemorySegment iov = arena.allocate(16L * MAX_IOV, 8); // struct iovec[]
    private final MemorySegment control = arena.allocate(128, 8);       // cmsg with sock_extended_err
    private final MemorySegment pollfd = arena.allocate(8, 4);
    private long queued;     // zero-copy sendmsg calls that sent something: each gets one notification id
    private long completed;  // notified so far
    private long queuedAtFlush; // queued as of the last flush
    private boolean anyZeroCopied; // since the last flush: a notification without the COPIED code
    private volatile boolean shut;
    private boolean closed; // guarded by the write lock

    private ZeroCopySocket(int fd, String description) {
        this.fd = new FileDescriptorHolder(this, "socket " + description, fd);
        this.description = description;
    }

    /**
     * Connects to {@code address} with {@code SO_ZEROCOPY} set. Throws {@link NativeCallException} for a
     * failed call; {@code setsockopt(SO_ZEROCOPY)} failing means the kernel cannot send this way.
     */
    public static ZeroCopySocket connect(InetSocketAddress address) {
        int family = address.getAddress() instanceof Inet6Address ? AF_INET6 : AF_INET;
        int fd;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(Linker.Option.captureStateLayout());
            fd = (int) invoke(() -> (int) SOCKET.invokeExact(st, family, SOCK_STREAM | SOCK_CLOEXEC, 0));
            if (fd < 0) {
                throw new NativeCallException("socket", (int) ERRNO_HANDLE.get(st, 0L));
            }
        }
        ZeroCopySocket s = new ZeroCopySocket(fd, address.toString());
        try {
            s.setInt("setsockopt(SO_ZEROCOPY)", SOL_SOCKET, SO_ZEROCOPY, 1);
            s.setInt("setsockopt(TCP_NODELAY)", IPPROTO_TCP, TCP_NODELAY, 1);
            try (Arena a = Arena.ofConfined()) {
                MemorySegment sa = sockaddr(a, address);
                s.check("connect(" + address + ")", (int) invoke(() -> (int) CONNECT.invokeExact(s.state, fd, sa, (int) sa.byteSize())));
            }
            return s;
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
    }

    /** Writes native {@code parts} completely the ordinary way (the kernel copies them): for headers. */
    public void sendAll(List<MemorySegment> parts) {
        sendAll(parts, 0, "sendmsg");
    }

    /**
     * Writes {@code pages} completely with {@code MSG_ZEROCOPY}: they must stay mapped until {@link #flush}
     * returns (their contents may change; the kernel then sends whatever it finds).
     */
    public void sendZeroCopy(List<MemorySegment> pages) {
        sendAll(pages, MSG_ZEROCOPY, "sendmsg(MSG_ZEROCOPY)");
    }

    /**
     * Waits until the kernel has reported every zero-copy send so far; returns true when there were sends
     * since the last flush and none of them avoided the copy (QEMU counts these in
     * dirty-sync-missed-zero-copy).
     */
    public boolean flush() {
        use.readLock().lock();
        try {
            if (queued == queuedAtFlush) {
                return false; // nothing sent since the last flush: nothing was copied (QEMU's flush says the same)
            }
            queuedAtFlush = queued;
            int f = fd.fd();
            while (completed < queued) {
                if (shut) {
                    throw new NativeCallException("recvmsg(MSG_ERRQUEUE) on " + description + " after shutdown", 32);
                }
                if (!reapOne(f)) {
                    waitForError(f);
                }
            }
            boolean allCopied = !anyZeroCopied;
            anyZeroCopied = false;
            return allCopied;
        } finally {
            use.readLock().unlock();
        }
    }

    /** Ends both directions now; a thread blocked in a send returns with an error. Any thread. */
    public void shutdown() {
        shut = true;
        use.readLock().lock(); // the descriptor cannot be closed (and its number reused) meanwhile
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(Linker.Option.captureStateLayout());
            int ignored = (int) SHUTDOWN.invokeExact(st, fd.fd(), SHUT_RDWR); // ENOTCONN is fine: it only wakes the writer
        } catch (IllegalStateException alreadyClosed) {
            // closed before: nothing to wake
        } catch (Throwable t) {
            throw new IllegalStateException("shutdown downcall failed", t);
        } finally {
            use.readLock().unlock();
        }
    }

    /** Closes the descriptor once no call is using it (after {@link #shutdown} woke any). */
    @Override
    public void close() {
        shutdown();
        use.writeLock().lock();
        try {
            if (!closed) {
                closed = true;
                fd.close();
                arena.close();
            }
        } finally {
            use.writeLock().unlock();
        }
    }

    public String description() {
        return description;
    }

    private void sendAll(List<MemorySegment> parts, int flags, String name) {
        use.readLock().lock();
        try {
            int f = fd.fd();
            int first = 0;
            long skip = 0; // bytes of parts[first] already sent
            while (first < parts.size()) {
                int n = 0;
                for (int i = first; i < parts.size() && n < MAX_IOV; i++, n++) {
                    MemorySegment p = parts.get(i);
                    long off = i == first ? skip : 0;
                    iov.setAtIndex(ValueLayout.JAVA_LONG, 2L * n, p.address() + off);
                    iov.setAtIndex(ValueLayout.JAVA_LONG, 2L * n + 1, p.byteSize() - off);
                }
                msg.fill((byte) 0);
                msg.set(ValueLayout.ADDRESS, 16, iov);
                msg.set(ValueLayout.JAVA_LONG, 24, n);
                long sent = invoke(() -> (long) SENDMSG.invokeExact(state, f, msg, flags | MSG_NOSIGNAL));
                if (sent < 0) {
                    int err = errno();
                    if (err == EINTR) {
                        continue;
                    }
                    if (err == ENOBUFS && (flags & MSG_ZEROCOPY) != 0 && completed < queued) {
                        reapAvailable(f); // the kernel's budget for pinned pages and notifications: free some
                        if (completed < queued) {
                            waitForError(f);
                            reapAvailable(f);
                        }
                        continue;
                    }
                    if (err == ENOBUFS && (flags & MSG_ZEROCOPY) != 0) {
                        throw new NativeCallException(name + " on " + description
                                + ": the process may not lock enough memory for MSG_ZEROCOPY (RLIMIT_MEMLOCK)", err);
                    }
                    throw new NativeCallException(name + " on " + description, err);
                }
                if ((flags & MSG_ZEROCOPY) != 0 && sent > 0) {
                    queued++;
                }
                // advance past what was sent
                long left = sent;
                while (first < parts.size() && left >= parts.get(first).byteSize() - skip) {
                    left -= parts.get(first).byteSize() - skip;
                    first++;
                    skip = 0;
                }
                skip += left;
            }
        } finally {
            use.readLock().unlock();
        }
    }

    /** Reads every notification there is without waiting. */
    private void reapAvailable(int f) {
        while (completed < queued && reapOne(f)) {
            // keep reading
        }
    }

    /** Reads one notification from the error queue; false when none is there yet. */
    private boolean reapOne(int f) {
        msg.fill((byte) 0);
        msg.set(ValueLayout.ADDRESS, 32, control);
        msg.set(ValueLayout.JAVA_LONG, 40, control.byteSize());
        long got = invoke(() -> (long) RECVMSG.invokeExact(state, f, msg, MSG_ERRQUEUE | MSG_DONTWAIT));
        if (got < 0) {
            int err = errno();
            if (err == EAGAIN || err == EINTR) {
                return false;
            }
            throw new NativeCallException("recvmsg(MSG_ERRQUEUE) on " + description, err);
        }
        long controlLength = msg.get(ValueLayout.JAVA_LONG, 40);
        if (controlLength < 16 + 16) {
            throw new NativeCallException("recvmsg(MSG_ERRQUEUE) on " + description + ": no notification in the message", 71);
        }
        // struct cmsghdr {size_t len; int level; int type;} then struct sock_extended_err
        int eeErrno = control.get(ValueLayout.JAVA_INT, 16);
        int origin = Byte.toUnsignedInt(control.get(ValueLayout.JAVA_BYTE, 20));
        int code = Byte.toUnsignedInt(control.get(ValueLayout.JAVA_BYTE, 22));
        long lo = Integer.toUnsignedLong(control.get(ValueLayout.JAVA_INT, 24));
        long hi = Integer.toUnsignedLong(control.get(ValueLayout.JAVA_INT, 28));
        if (eeErrno != 0) {
            throw new NativeCallException("zero-copy send on " + description + " reported an error", eeErrno);
        }
        if (origin != SO_EE_ORIGIN_ZEROCOPY) {
            throw new NativeCallException("error queue of " + description + ": a report not from zero copy (origin " + origin + ")", 71);
        }
        completed += ((hi - lo) & 0xffffffffL) + 1; // ids are 32-bit and wrap
        if (code != SO_EE_CODE_ZEROCOPY_COPIED) {
            anyZeroCopied = true;
        }
        return true;
    }

    /** Blocks until the error queue has something (POLLERR is always reported) or a second passes. */
    private void waitForError(int f) {
        pollfd.set(ValueLayout.JAVA_INT, 0, f);
        pollfd.set(ValueLayout.JAVA_SHORT, 4, (short) 0); // events: none asked, errors come anyway
        pollfd.set(ValueLayout.JAVA_SHORT, 6, (short) 0);
        int rc = (int) invoke(() -> (int) POLL.invokeExact(state, pollfd, 1L, 1000));
        if (rc < 0 && errno() != EINTR) {
            throw new NativeCallException("poll on " + description, errno());
        }
    }

    private void setInt(String name, int level, int option, int value) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocateFrom(ValueLayout.JAVA_INT, value);
            int f = fd.fd();
            check(name, (int) invoke(() -> (int) SETSOCKOPT.invokeExact(state, f, level, option, v, 4)));
        }
    }

    private void check(String name, int rc) {
        if (rc < 0) {
            throw new NativeCallException(name, errno());
        }
    }

    private int errno() {
        return (int) ERRNO_HANDLE.get(state, 0L);
    }

    private static MemorySegment sockaddr(Arena a, InetSocketAddress address) {
        byte[] ip = address.getAddress().getAddress();
        int port = address.getPort();
        if (address.getAddress() instanceof Inet4Address) {
            MemorySegment sa = a.allocate(16, 4);
            sa.set(ValueLayout.JAVA_SHORT, 0, (short) AF_INET);
            sa.set(ValueLayout.JAVA_BYTE, 2, (byte) (port >> 8));
            sa.set(ValueLayout.JAVA_BYTE, 3, (byte) port);
            MemorySegment.copy(MemorySegment.ofArray(ip), 0, sa, 4, 4);
            return sa;
        }
        MemorySegment sa = a.allocate(28, 4);
        sa.set(ValueLayout.JAVA_SHORT, 0, (short) AF_INET6);
        sa.set(ValueLayout.JAVA_BYTE, 2, (byte) (port >> 8));
        sa.set(ValueLayout.JAVA_BYTE, 3, (byte) port);
        MemorySegment.copy(MemorySegment.ofArray(ip), 0, sa, 8, 16);
        sa.set(ValueLayout.JAVA_INT, 24, ((Inet6Address) address.getAddress()).getScopeId());
        return sa;
    }

    /** A downcall returning int or long (widened): ssize_t and int results alike. */
    @FunctionalInterface
    private interface Call {
        long run() throws Throwable;
    }

    private static long invoke(Call c) {
        try {
            return c.run();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("downcall failed", t);
        }
    }
}
