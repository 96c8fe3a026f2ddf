package dev.livemig.transport;

import dev.livemig.wire.MigrationException;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.net.UnknownHostException;
import java.nio.channels.FileChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.FileSystems;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/**
 * Opening the outgoing side of a migration channel by URI, and listening for the incoming side. One small
 * method per transport, as in QEMU; errors are MigrationExceptions that name the URI.
 */
public final class Transports {
    private Transports() {
    }

    /** Connects to a destination (tcp, unix), starts a command (exec) or opens a file for writing (file). */
    public static MigrationChannel connect(MigrationUri uri) throws MigrationException {
        try {
            return switch (uri) {
                case MigrationUri.Tcp tcp -> {
                    SocketChannel s = SocketChannel.open(resolve(tcp));
                    s.socket().setTcpNoDelay(true);
                    yield new SocketMigrationChannel(s, uri.toString());
                }
                case MigrationUri.Unix unix -> new SocketMigrationChannel(
                        SocketChannel.open(UnixDomainSocketAddress.of(unix.path())), uri.toString());
                case MigrationUri.Exec exec -> ExecMigrationChannel.start(exec);
                case MigrationUri.Fd fd -> throw new MigrationException(fd + " names a descriptor passed with QMP getfd:"
                        + " the migration controller takes it (Transports.adopt)");
                case MigrationUri.File file -> {
                    FileChannel f = FileChannel.open(file.path(), Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE), ownerOnly());
                    try {
                        f.truncate(file.offset());
                        f.position(file.offset());
                    } catch (IOException e) {
                        f.close();
                        throw e;
                    }
                    yield StreamMigrationChannel.writing(f, uri.toString());
                }
            };
        } catch (IOException e) {
            throw new MigrationException("cannot open " + uri + ": " + MigrationException.reason(e), e);
        }
    }

    /**
     * The main channel of {@code migrate fd:NAME}: the connected stream socket a QMP client passed under that name
     * (the channel owns it from here on). Another kind of descriptor is refused, and stays the caller's to close.
     */
    public static MigrationChannel adopt(dev.livemig.linux.ReceivedDescriptor descriptor, MigrationUri.Fd uri) throws MigrationException {
        try {
            return new SocketMigrationChannel(dev.livemig.linux.AdoptedSocket.connected(descriptor, uri.toString()), uri.toString());
        } catch (IOException e) {
            throw new MigrationException(uri + ": " + MigrationException.reason(e)
                    + " (livemig's fd: transport takes a connected stream socket)", e);
        }
    }

    /** The incoming side of {@code migrate-incoming fd:NAME}: the one connection is the adopted socket. */
    public static IncomingListener listening(MigrationChannel adopted, MigrationUri.Fd uri, HandshakeGate gate) {
        return IncomingListener.single(uri, () -> adopted, gate);
    }

    /**
     * Connects a multifd channel for zero-copy-send: only TCP sockets can send with MSG_ZEROCOPY, anything
     * else fails with QEMU's text, as does a kernel that refuses SO_ZEROCOPY.
     */
    public static ZeroCopySocketChannel connectZeroCopy(MigrationUri uri) throws MigrationException {
        if (!(uri instanceof MigrationUri.Tcp tcp)) {
            throw new MigrationException(ZeroCopySocketChannel.UNAVAILABLE);
        }
        try {
            return ZeroCopySocketChannel.connect(resolve(tcp));
        } catch (IOException e) {
            throw new MigrationException(ZeroCopySocketChannel.UNAVAILABLE.equals(e.getMessage()) ? e.getMessage()
                    : "cannot open " + uri + ": " + MigrationException.reason(e), e);
        }
    }

    /** Starts listening (tcp, unix) or prepares the one incoming channel (exec, file), with the default gate. */
    public static IncomingListener listen(MigrationUri uri) throws MigrationException {
        return listen(uri, HandshakeGate.DEFAULT);
    }

    /**
     * Starts listening (tcp, unix) or prepares the one incoming channel (exec, file). A socket listener hands
     * out only connections that pass {@code gate}.
     */
    public static IncomingListener listen(MigrationUri uri, HandshakeGate gate) throws MigrationException {
        try {
            return switch (uri) {
                case MigrationUri.Tcp tcp -> IncomingListener.socket(resolve(tcp),
                        StandardProtocolFamily.INET, uri, gate);
                case MigrationUri.Unix unix -> {
                    java.nio.file.Files.deleteIfExists(unix.path()); // a stale socket file from an earlier run
                    yield IncomingListener.socket(UnixDomainSocketAddress.of(unix.path()), StandardProtocolFamily.UNIX, uri, gate);
                }
                case MigrationUri.Exec exec -> IncomingListener.single(uri, () -> ExecMigrationChannel.start(exec), gate);
                case MigrationUri.Fd fd -> throw new MigrationException(fd + " names a descriptor passed with QMP getfd:"
                        + " the migration controller takes it (Transports.listening)");
                case MigrationUri.File file -> IncomingListener.single(uri, () -> {
                    FileChannel f = FileChannel.open(file.path(), StandardOpenOption.READ);
                    f.position(file.offset());
                    return StreamMigrationChannel.reading(f, uri.toString());
                }, gate);
            };
        } catch (IOException e) {
            throw new MigrationException("cannot listen on " + uri + ": " + MigrationException.reason(e), e);
        }
    }

    /** An unknown host is an IOException here, not the UnresolvedAddressException NIO would throw later. */
    private static InetSocketAddress resolve(MigrationUri.Tcp tcp) throws IOException {
        var a = new InetSocketAddress(tcp.host(), tcp.port());
        if (a.isUnresolved()) {
            throw new UnknownHostException("cannot resolve host " + tcp.host());
        }
        return a;
    }

    /** A new migration file holds guest memory: owner-only (0600), as QEMU creates it. */
    private static FileAttribute<?>[] ownerOnly() {
        if (!FileSystems.getDefault().supportedFileAttributeViews().contains("posix")) {
            return new FileAttribute<?>[0];
        }
        return new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"))};
    }
}
