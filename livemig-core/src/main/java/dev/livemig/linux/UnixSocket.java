package dev.livemig.linux;

import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A connected AF_UNIX stream socket owned through the FFM API, because it must do what Java's own
 * Unix-domain channels cannot: pass descriptors to another process (SCM_RIGHTS). The postcopy page server
 * receives the guest's userfaultfd this way.
 *
 * <p>Blocking calls wait in native code, where they never hold up a JVM safepoint. One reader and one writer
 * thread at a time; {@link #close} once both are done.
 */
public final class UnixSocket implements AutoCloseable {
    private static final int AF_UNIX = 1;
    private static final int SOCK_STREAM = 1;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int SOL_SOCKET = 1;
    private static final int SCM_RIGHTS = 1;
    private static final int MSG_NOSIGNAL = 0x4000;
    private static final int MSG_CTRUNC = 0x8;
    private static final int MSG_CMSG_CLOEXEC = 0x40000000;
    private static final int EAGAIN = 11;
    /** sizeof(struct sockaddr_un): sa_family_t + char sun_path[108]. */
    private static final int SOCKADDR_UN_BYTES = 110;
    private static final int MAX_PATH_BYTES = 107;
    /** Descriptors one message may carry here (the kernel allows 253). */
    public static final int MAX_DESCRIPTORS = 16;

    private static final Linker.Option ERRNO = Linker.Option.captureCallState("errno");
    private static final VarHandle ERRNO_HANDLE = Linker.Option.captureStateLayout()
            .varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle SOCKET;
    private static final MethodHandle BIND;
    private static final MethodHandle LISTEN;
    private static final MethodHandle ACCEPT4;
    private static final MethodHandle CONNECT;
    private static final MethodHandle SENDMSG;
    private static final MethodHandle RECVMSG;

    static {
        Linker linker = Linker.nativeLinker();
        var libc = linker.defaultLookup();
        SOCKET = linker.downcallHandle(libc.find("socket").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), ERRNO);
        var addressCall = FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT);
        BIND = linker.downcallHandle(libc.find("bind").orElseThrow(), addressCall, ERRNO);
        CONNECT = linker.downcallHandle(libc.find("connect").orElseThrow(), addressCall, ERRNO);
        LISTEN = linker.downcallHandle(libc.find("listen").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), ERRNO);
        ACCEPT4 = linker.downcallHandle(libc.find("accept4").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS,
                        ValueLayout.JAVA_INT), ERRNO);
        var messageCall = FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT);
        SENDMSG = linker.downcallHandle(libc.find("sendmsg").orElseThrow(), messageCall, ERRNO);
        RECVMSG = linker.downcallHandle(libc.find("recvmsg").orElseThrow(), messageCall, ERRNO);
    }

    private final FileDescriptorHolder fd;

    private UnixSocket(int fd) {
        this.fd = new FileDescriptorHolder(this, "unix socket", fd);
    }

    /** A socket listening at {@code path} (which must not exist yet; the caller removes it when done). */
    public static Server listen(Path path) throws IOException {
        int s = newSocket();
        try {
            call("bind(" + path + ")", BIND, s, path);
            int rc = invokeInt(LISTEN, s, 4);
            if (rc < 0) {
                throw nativeFailure("listen(" + path + ")", -rc);
            }
            return new Server(s, path);
        } catch (IOException | RuntimeException | Error e) {
            Libc.close("unix socket", s);
            throw e;
        }
    }

    /** Connects to a {@link Server} listening at {@code path}. */
    public static UnixSocket connect(Path path) throws IOException {
        int s = newSocket();
        try {
            call("connect(" + path + ")", CONNECT, s, path);
            return new UnixSocket(s);
        } catch (IOException | RuntimeException | Error e) {
            Libc.close("unix socket", s);
            throw e;
        }
    }

    /** The listening end; {@link #close} closes the socket, not the path. */
    public static final class Server implements AutoCloseable {
        private final FileDescriptorHolder fd;
        private final Path path;

        private Server(int fd, Path path) {
            this.fd = new FileDescriptorHolder(this, "unix server socket", fd);
            this.path = path;
        }

        /** Waits up to {@code timeoutMillis} (-1: without limit) for a connection; null on timeout. */
        public UnixSocket accept(int timeoutMillis) throws IOException {
            try {
                if (!Libc.pollIn("unix server socket " + path, fd.fd(), timeoutMillis)) {
                    return null;
                }
            } catch (NativeCallException e) {
                throw new IOException(e.getMessage(), e);
            }
            try (Arena a = Arena.ofConfined()) {
                MemorySegment state = a.allocate(Linker.Option.captureStateLayout());
                int s = (int) ACCEPT4.invokeExact(state, fd.fd(), MemorySegment.NULL, MemorySegment.NULL, SOCK_CLOEXEC);
                if (s < 0) {
                    throw nativeFailure("accept4(" + path + ")", errno(state));
                }
                return new UnixSocket(s);
            } catch (IOException | RuntimeException | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException("accept4 downcall failed", t);
            }
        }

        @Override
        public void close() {
            fd.close();
        }
    }

    /** Writes all of {@code data}. */
    public void write(byte[] data) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buffer = a.allocate(Math.max(1, data.length));
            MemorySegment.copy(data, 0, buffer, ValueLayout.JAVA_BYTE, 0, data.length);
            long done = 0;
            while (done < data.length) {
                done += transfer("sendmsg", SENDMSG, a, buffer.asSlice(done, data.length - done), MemorySegment.NULL, MSG_NOSIGNAL);
            }
        }
    }

    /** Reads exactly {@code data.length} bytes; {@link EOFException} when the peer closes first. */
    public void readFully(byte[] data) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buffer = a.allocate(Math.max(1, data.length));
            long done = 0;
            while (done < data.length) {
                long n = transfer("recvmsg", RECVMSG, a, buffer.asSlice(done, data.length - done), MemorySegment.NULL, 0);
                if (n == 0) {
                    throw new EOFException("unix socket closed by the peer after " + done + " of " + data.length + " bytes");
                }
                done += n;
            }
            MemorySegment.copy(buffer, ValueLayout.JAVA_BYTE, 0, data, 0, data.length);
        }
    }

    /** Sends the descriptor of {@code uffd}; the peer gets its own descriptor for the same userfaultfd. */
    public void sendDescriptors(Userfaultfd uffd) throws IOException {
        sendDescriptors(new int[]{uffd.descriptor()});
    }

    /**
     * Sends the descriptors of {@code uffd} and of the Java socket {@code stream}, in that order, in one message
     * (needs {@link SocketChannelDescriptor#OPTION}).
     */
    public void sendDescriptors(Userfaultfd uffd, java.nio.channels.SocketChannel stream) throws IOException {
        sendDescriptors(new int[]{uffd.descriptor(), SocketChannelDescriptor.of(stream)});
    }

    /** Sends the descriptor of the Java socket {@code channel} (needs {@link SocketChannelDescriptor#OPTION}). */
    public void sendDescriptors(java.nio.channels.SocketChannel channel) throws IOException {
        sendDescriptors(new int[]{SocketChannelDescriptor.of(channel)});
    }

    /**
     * Sends {@code marker} carrying {@code descriptor} (SCM_RIGHTS): QEMU's fd field of a CPR state is
     * such a byte. The descriptor stays open here too.
     */
    public void sendDescriptor(PassableDescriptor descriptor, byte marker) throws IOException {
        int fd = switch (descriptor) {
            case MemoryFile file -> file.descriptor();
            case SocketDescriptor socket -> socket.descriptor();
        };
        sendDescriptors(new int[]{fd}, marker);
    }

    /** No more writes from this end: the peer reads the end of the stream, and can still write back. */
    public void shutdownOutput() throws IOException {
        int rc = Libc.shutdownOrErrno(fd.fd(), 1);
        if (rc < 0) {
            throw nativeFailure("shutdown(unix socket, write)", -rc);
        }
    }

    /**
     * Waits up to {@code timeoutMillis} for the peer to close its end (QEMU's HUP); false on timeout. Data from the
     * peer instead is an error: a CPR channel carries none back.
     */
    public boolean awaitPeerClose(int timeoutMillis) throws IOException {
        try {
            if (!Libc.pollIn("unix socket", fd.fd(), timeoutMillis)) {
                return false;
            }
        } catch (NativeCallException e) {
            throw new IOException(e.getMessage(), e);
        }
        byte[] one = new byte[1];
        Received r = receive(one, 1);
        r.descriptors().forEach(ReceivedDescriptor::close);
        if (r.bytes() != 0) {
            throw new IOException("the peer sent data where it was to close the socket");
        }
        return true;
    }

    /** Sends one marker byte carrying {@code fds} as SCM_RIGHTS; the descriptors stay open here too. */
    void sendDescriptors(int[] fds) throws IOException {
        sendDescriptors(fds, (byte) 0);
    }

    /** As above, the marker byte being {@code marker} (QEMU's fd fields send a space). */
    void sendDescriptors(int[] fds, byte marker) throws IOException {
        if (fds.length == 0 || fds.length > MAX_DESCRIPTORS) {
            throw new IllegalArgumentException("1.." + MAX_DESCRIPTORS + " descriptors per message: " + fds.length);
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment control = a.allocate(controlSpace(fds.length), 8);
            control.set(ValueLayout.JAVA_LONG, 0, 16L + 4L * fds.length); // cmsg_len = CMSG_LEN(n * sizeof(int))
            control.set(ValueLayout.JAVA_INT, 8, SOL_SOCKET);
            control.set(ValueLayout.JAVA_INT, 12, SCM_RIGHTS);
            for (int i = 0; i < fds.length; i++) {
                control.set(ValueLayout.JAVA_INT, 16 + 4L * i, fds[i]);
            }
            MemorySegment markerByte = a.allocate(1);
            markerByte.set(ValueLayout.JAVA_BYTE, 0, marker);
            transfer("sendmsg(SCM_RIGHTS)", SENDMSG, a, markerByte, control, MSG_NOSIGNAL);
        }
    }

    /**
     * Receives one message of {@link #sendDescriptors} and returns its descriptors (close-on-exec), to be taken
     * by their typed owners. Refuses a message without descriptors or with more than {@code max}.
     */
    public List<ReceivedDescriptor> receiveDescriptors(int max) throws IOException {
        if (max < 1 || max > MAX_DESCRIPTORS) {
            throw new IllegalArgumentException("1.." + MAX_DESCRIPTORS + " descriptors per message: " + max);
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment control = a.allocate(controlSpace(max), 8);
            MemorySegment marker = a.allocate(1);
            MemorySegment header = message(a, marker, control);
            long n = invokeMessage("recvmsg(SCM_RIGHTS)", RECVMSG, header, MSG_CMSG_CLOEXEC);
            if (n == 0) {
                throw new EOFException("unix socket closed by the peer before the descriptors came");
            }
            List<ReceivedDescriptor> received = descriptorsIn(header, control);
            int flags = header.get(ValueLayout.JAVA_INT, 48);
            if ((flags & MSG_CTRUNC) != 0 || received.isEmpty()) {
                received.forEach(ReceivedDescriptor::close);
                throw new IOException("expected 1.." + max + " descriptors, got " + received.size()
                        + ((flags & MSG_CTRUNC) != 0 ? " and more that did not fit" : ""));
            }
            return received;
        }
    }

    /** What one {@link #receive} returned: {@code bytes} bytes of data, and the descriptors that came with them. */
    public record Received(int bytes, List<ReceivedDescriptor> descriptors) {
    }

    /**
     * Receives up to {@code buffer.length} bytes and whatever descriptors (up to {@code maxDescriptors}) came with
     * them: on a stream socket a read ends with the first message that carries descriptors, so they belong to its
     * last byte. 0 bytes: the peer closed. Descriptors that did not fit are refused (closed, and an error).
     */
    public Received receive(byte[] buffer, int maxDescriptors) throws IOException {
        if (maxDescriptors < 1 || maxDescriptors > MAX_DESCRIPTORS || buffer.length == 0) {
            throw new IllegalArgumentException("1.." + MAX_DESCRIPTORS + " descriptors and a buffer: " + maxDescriptors);
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment control = a.allocate(controlSpace(maxDescriptors), 8);
            MemorySegment data = a.allocate(buffer.length);
            MemorySegment header = message(a, data, control);
            long n = invokeMessage("recvmsg", RECVMSG, header, MSG_CMSG_CLOEXEC);
            List<ReceivedDescriptor> received = descriptorsIn(header, control);
            if ((header.get(ValueLayout.JAVA_INT, 48) & MSG_CTRUNC) != 0) {
                received.forEach(ReceivedDescriptor::close);
                throw new IOException("more than " + maxDescriptors + " descriptors came in one message");
            }
            MemorySegment.copy(data, ValueLayout.JAVA_BYTE, 0, buffer, 0, (int) n);
            return new Received((int) n, received);
        }
    }

    /**
     * Reads a Java unix socket channel's input with recvmsg, so that descriptors sent with it (SCM_RIGHTS, as QMP's
     * getfd expects them) are not lost: each comes to {@code received}, owned there. Writing stays the channel's.
     * Needs {@link SocketChannelDescriptor#OPTION}.
     */
    public static java.nio.channels.ReadableByteChannel receivingFrom(java.nio.channels.SocketChannel channel,
                                                                      java.util.function.Consumer<ReceivedDescriptor> received) {
        int fd = SocketChannelDescriptor.of(channel);
        return new java.nio.channels.ReadableByteChannel() {
            @Override
            public int read(java.nio.ByteBuffer dst) throws IOException {
                if (!channel.isOpen()) {
                    throw new java.nio.channels.ClosedChannelException();
                }
                int want = Math.min(dst.remaining(), 64 << 10);
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment control = a.allocate(controlSpace(MAX_DESCRIPTORS), 8);
                    MemorySegment data = a.allocate(Math.max(1, want));
                    MemorySegment header = message(a, data.asSlice(0, want), control);
                    long n = invokeMessage("recvmsg", RECVMSG, fd, header, MSG_CMSG_CLOEXEC);
                    descriptorsIn(header, control).forEach(received);
                    if (n == 0) {
                        return want == 0 ? 0 : -1;
                    }
                    dst.put(data.asSlice(0, n).asByteBuffer());
                    return (int) n;
                }
            }

            @Override
            public boolean isOpen() {
                return channel.isOpen();
            }

            @Override
            public void close() throws IOException {
                channel.close();
            }
        };
    }

    /** The SCM_RIGHTS descriptors a received message header's control data holds (owned by the caller now). */
    private static List<ReceivedDescriptor> descriptorsIn(MemorySegment header, MemorySegment control) {
        var received = new ArrayList<ReceivedDescriptor>();
        long controlLength = header.get(ValueLayout.JAVA_LONG, 40);
        if (controlLength >= 16 && control.get(ValueLayout.JAVA_INT, 8) == SOL_SOCKET
                && control.get(ValueLayout.JAVA_INT, 12) == SCM_RIGHTS) {
            long count = (control.get(ValueLayout.JAVA_LONG, 0) - 16) / 4;
            for (int i = 0; i < count; i++) {
                received.add(new ReceivedDescriptor(control.get(ValueLayout.JAVA_INT, 16 + 4L * i)));
            }
        }
        return received;
    }

    @Override
    public void close() {
        fd.close();
    }

    private long transfer(String what, MethodHandle call, Arena a, MemorySegment data, MemorySegment control, int flags)
            throws IOException {
        return invokeMessage(what, call, message(a, data, control), flags);
    }

    /** struct msghdr (56 bytes on x86_64) with one iovec over {@code data}. */
    private static MemorySegment message(Arena a, MemorySegment data, MemorySegment control) {
        MemorySegment iov = a.allocate(16, 8);
        iov.set(ValueLayout.ADDRESS, 0, data);
        iov.set(ValueLayout.JAVA_LONG, 8, data.byteSize());
        MemorySegment header = a.allocate(56, 8);
        header.set(ValueLayout.ADDRESS, 16, iov);
        header.set(ValueLayout.JAVA_LONG, 24, 1L);
        header.set(ValueLayout.ADDRESS, 32, control);
        header.set(ValueLayout.JAVA_LONG, 40, control.byteSize());
        return header;
    }

    private long invokeMessage(String what, MethodHandle call, MemorySegment header, int flags) throws IOException {
        return invokeMessage(what, call, fd.fd(), header, flags);
    }

    /** sendmsg/recvmsg on {@code fd}, again after EINTR; a descriptor in non-blocking mode waits for input (poll). */
    private static long invokeMessage(String what, MethodHandle call, int fd, MemorySegment header, int flags) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(Linker.Option.captureStateLayout());
            while (true) {
                long n = (long) call.invokeExact(state, fd, header, flags);
                if (n >= 0) {
                    return n;
                }
                int errno = errno(state);
                if (errno == EAGAIN && call == RECVMSG) {
                    try {
                        Libc.pollIn("unix socket", fd, -1); // the JDK set it non-blocking for a virtual thread
                    } catch (NativeCallException e) {
                        throw new IOException(e.getMessage(), e);
                    }
                } else if (errno != Libc.EINTR) {
                    throw nativeFailure(what, errno);
                }
            }
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(what + " downcall failed", t);
        }
    }

    /** CMSG_SPACE(n * sizeof(int)): header and data rounded up to 8 bytes. */
    private static long controlSpace(int descriptors) {
        return 16 + ((4L * descriptors + 7) & ~7L);
    }

    private static int newSocket() throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(Linker.Option.captureStateLayout());
            int s = (int) SOCKET.invokeExact(state, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (s < 0) {
                throw nativeFailure("socket(AF_UNIX)", errno(state));
            }
            return s;
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("socket downcall failed", t);
        }
    }

    private static void call(String what, MethodHandle call, int s, Path path) throws IOException {
        byte[] name = path.toString().getBytes(StandardCharsets.UTF_8);
        if (name.length == 0 || name.length > MAX_PATH_BYTES) {
            throw new IOException("unix socket path must have 1.." + MAX_PATH_BYTES + " bytes: " + path);
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment address = a.allocate(SOCKADDR_UN_BYTES, 2);
            address.set(ValueLayout.JAVA_SHORT, 0, (short) AF_UNIX);
            MemorySegment.copy(name, 0, address, ValueLayout.JAVA_BYTE, 2, name.length);
            MemorySegment state = a.allocate(Linker.Option.captureStateLayout());
            int rc = (int) call.invokeExact(state, s, address, 2 + name.length + 1);
            if (rc < 0) {
                throw nativeFailure(what, errno(state));
            }
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(what + " downcall failed", t);
        }
    }

    private static int invokeInt(MethodHandle call, int s, int arg) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(Linker.Option.captureStateLayout());
            int rc = (int) call.invokeExact(state, s, arg);
            return rc < 0 ? -errno(state) : rc;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("downcall failed", t);
        }
    }

    private static int errno(MemorySegment state) {
        return (int) ERRNO_HANDLE.get(state, 0L);
    }

    private static IOException nativeFailure(String what, int errno) {
        return new IOException(new NativeCallException(what, errno).getMessage());
    }
}
