package dev.livemig.linux;

import java.io.FileDescriptor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.ProtocolFamily;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.channels.spi.SelectorProvider;

/**
 * A socket another process handed over ({@link SocketDescriptor} on its side), made a Java channel again here: a
 * listening socket becomes a {@link ServerSocketChannel}, a connected one a {@link SocketChannel}, each the same
 * socket its peers talk to. Java has no public way to wrap a descriptor, so this builds the JDK's own channel
 * classes from it (needs {@link SocketChannelDescriptor#OPTION}, as reaching a channel's descriptor does). What the
 * descriptor is — a stream socket, listening or not, of which address family — is asked of the kernel
 * (getsockopt), and a descriptor of another kind is refused.
 */
public final class AdoptedSocket {
    private static final int SOL_SOCKET = 1;
    private static final int SO_TYPE = 3;
    private static final int SO_ACCEPTCONN = 30;
    private static final int SO_DOMAIN = 39;
    private static final int SOCK_STREAM = 1;
    private static final int AF_UNIX = 1;
    private static final int AF_INET = 2;
    private static final int AF_INET6 = 10;
    private static final Linker.Option ERRNO = Linker.Option.captureCallState("errno");
    private static final VarHandle ERRNO_HANDLE = Linker.Option.captureStateLayout()
            .varHandle(java.lang.foreign.MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle GETSOCKOPT;

    static {
        Linker linker = Linker.nativeLinker();
        GETSOCKOPT = linker.downcallHandle(linker.defaultLookup().find("getsockopt").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                        ValueLayout.ADDRESS, ValueLayout.ADDRESS), ERRNO);
    }

    private AdoptedSocket() {
    }

    /** The listening socket passed as {@code name}; the channel owns the descriptor from here on. */
    public static ServerSocketChannel listening(ReceivedDescriptor descriptor, String name) throws IOException {
        ProtocolFamily family = check(descriptor, name, true);
        FileDescriptor fd = fileDescriptor(descriptor.fd());
        try {
            Constructor<?> c = Class.forName("sun.nio.ch.ServerSocketChannelImpl").getDeclaredConstructor(
                    SelectorProvider.class, ProtocolFamily.class, FileDescriptor.class, boolean.class);
            c.setAccessible(true);
            var channel = (ServerSocketChannel) c.newInstance(SelectorProvider.provider(), family, fd, true);
            descriptor.take();
            return channel;
        } catch (InvocationTargetException e) {
            throw new IOException("the socket passed as " + name + " cannot be a server socket channel: " + e.getCause(), e.getCause());
        } catch (ReflectiveOperationException | RuntimeException e) { // InaccessibleObjectException without the option
            throw unreachable(e);
        }
    }

    /** The connected socket passed as {@code name}; the channel owns the descriptor from here on. */
    public static SocketChannel connected(ReceivedDescriptor descriptor, String name) throws IOException {
        ProtocolFamily family = check(descriptor, name, false);
        FileDescriptor fd = fileDescriptor(descriptor.fd());
        try {
            SocketAddress remote = family == StandardProtocolFamily.UNIX ? null : remoteAddress(fd);
            Constructor<?> c = Class.forName("sun.nio.ch.SocketChannelImpl").getDeclaredConstructor(
                    SelectorProvider.class, ProtocolFamily.class, FileDescriptor.class, SocketAddress.class);
            c.setAccessible(true);
            var channel = (SocketChannel) c.newInstance(SelectorProvider.provider(), family, fd, remote);
            descriptor.take();
            return channel;
        } catch (InvocationTargetException e) {
            throw new IOException("the socket passed as " + name + " cannot be a socket channel: " + e.getCause(), e.getCause());
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw unreachable(e);
        }
    }

    /** Refuses anything but a stream socket that is listening (or not) as asked; returns its address family. */
    private static ProtocolFamily check(ReceivedDescriptor descriptor, String name, boolean listening) throws IOException {
        int fd = descriptor.fd();
        if (option(fd, SO_TYPE, name) != SOCK_STREAM) {
            throw new IOException("the descriptor passed as " + name + " is not a stream socket");
        }
        if ((option(fd, SO_ACCEPTCONN, name) != 0) != listening) {
            throw new IOException("the socket passed as " + name + (listening ? " does not listen" : " listens: it is no connection"));
        }
        return switch (option(fd, SO_DOMAIN, name)) {
            case AF_INET -> StandardProtocolFamily.INET;
            case AF_INET6 -> StandardProtocolFamily.INET6;
            case AF_UNIX -> StandardProtocolFamily.UNIX;
            default -> throw new IOException("the socket passed as " + name + " is of an address family Java has no channel for");
        };
    }

    /** getsockopt(SOL_SOCKET, option) as an int; a descriptor that is no socket fails (ENOTSOCK). */
    private static int option(int fd, int option, String name) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(Linker.Option.captureStateLayout());
            MemorySegment value = a.allocate(ValueLayout.JAVA_INT);
            MemorySegment length = a.allocateFrom(ValueLayout.JAVA_INT, 4);
            int rc = (int) GETSOCKOPT.invokeExact(state, fd, SOL_SOCKET, option, value, length);
            if (rc < 0) {
                throw new IOException("the descriptor passed as " + name + ": "
                        + new NativeCallException("getsockopt", (int) ERRNO_HANDLE.get(state, 0L)).getMessage());
            }
            return value.get(ValueLayout.JAVA_INT, 0);
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("getsockopt downcall failed", t);
        }
    }

    private static FileDescriptor fileDescriptor(int fd) throws IOException {
        try {
            Method newFd = Class.forName("sun.nio.ch.IOUtil").getDeclaredMethod("newFD", int.class);
            newFd.setAccessible(true);
            return (FileDescriptor) newFd.invoke(null, fd);
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw unreachable(e);
        }
    }

    private static SocketAddress remoteAddress(FileDescriptor fd) throws ReflectiveOperationException {
        Method remote = Class.forName("sun.nio.ch.Net").getDeclaredMethod("remoteAddress", FileDescriptor.class);
        remote.setAccessible(true);
        return (SocketAddress) remote.invoke(null, fd);
    }

    private static IOException unreachable(Exception e) {
        return new IOException("livemig cannot make a Java channel of a passed socket in this JVM: start it with "
                + SocketChannelDescriptor.OPTION + " (" + e + ")", e);
    }
}
