package dev.livemig.transport;

import dev.livemig.wire.MigrationException;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;

/**
 * Opening the outgoing side of a migration channel by URI, and listening for the incoming side. One small
 * method per transport, as in QEMU; errors are MigrationExceptions that name the URI.
 */
public final class Transports {
    private static final long EXEC_EXIT_WAIT_SECONDS = 30;

    private Transports() {
    }

    /** Connects to a destination (tcp, unix), starts a command (exec) or opens a file for writing (file). */
    public static MigrationChannel connect(MigrationUri uri) throws MigrationException {
        try {
            return switch (uri) {
                case MigrationUri.Tcp tcp -> {
                    SocketChannel s = SocketChannel.open(new InetSocketAddress(tcp.host(), tcp.port()));
                    s.socket().setTcpNoDelay(true);
                    yield new SocketMigrationChannel(s, uri.toString());
                }
                case MigrationUri.Unix unix -> new SocketMigrationChannel(
                        SocketChannel.open(UnixDomainSocketAddress.of(unix.path())), uri.toString());
                case MigrationUri.Exec exec -> execOutgoing(exec);
                case MigrationUri.File file -> {
                    FileChannel f = FileChannel.open(file.path(), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                    f.truncate(file.offset());
                    f.position(file.offset());
                    yield StreamMigrationChannel.writing(f, uri.toString());
                }
            };
        } catch (IOException e) {
            throw new MigrationException("cannot open " + uri + ": " + e.getMessage(), e);
        }
    }

    /** Starts listening (tcp, unix) or prepares the one incoming channel (exec, file). */
    public static IncomingListener listen(MigrationUri uri) throws MigrationException {
        try {
            return switch (uri) {
                case MigrationUri.Tcp tcp -> IncomingListener.socket(new InetSocketAddress(tcp.host(), tcp.port()),
                        StandardProtocolFamily.INET, uri);
                case MigrationUri.Unix unix -> {
                    java.nio.file.Files.deleteIfExists(unix.path()); // a stale socket file from an earlier run
                    yield IncomingListener.socket(UnixDomainSocketAddress.of(unix.path()), StandardProtocolFamily.UNIX, uri);
                }
                case MigrationUri.Exec exec -> IncomingListener.single(uri, () -> execIncoming(exec));
                case MigrationUri.File file -> IncomingListener.single(uri, () -> {
                    FileChannel f = FileChannel.open(file.path(), StandardOpenOption.READ);
                    f.position(file.offset());
                    return StreamMigrationChannel.reading(f, uri.toString());
                });
            };
        } catch (IOException e) {
            throw new MigrationException("cannot listen on " + uri + ": " + e.getMessage(), e);
        }
    }

    private static MigrationChannel execOutgoing(MigrationUri.Exec exec) throws IOException {
        Process p = new ProcessBuilder("/bin/sh", "-c", exec.command())
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
        // the command's stdout is the return path, as in QEMU
        return new StreamMigrationChannel(Channels.newChannel(p.getInputStream()), Channels.newChannel(p.getOutputStream()),
                exec.toString(), () -> awaitExit(p, exec));
    }

    private static MigrationChannel execIncoming(MigrationUri.Exec exec) throws IOException {
        Process p = new ProcessBuilder("/bin/sh", "-c", exec.command())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
        return new StreamMigrationChannel(Channels.newChannel(p.getInputStream()), null, exec.toString(), () -> {
            p.getInputStream().close();
            awaitExit(p, exec);
        });
    }

    private static void awaitExit(Process p, MigrationUri.Exec exec) throws IOException {
        try {
            p.getOutputStream().close();
            if (!p.waitFor(EXEC_EXIT_WAIT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("command did not exit within " + EXEC_EXIT_WAIT_SECONDS + " s: " + exec.command());
            }
            if (p.exitValue() != 0) {
                throw new IOException("command exited with status " + p.exitValue() + ": " + exec.command());
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted waiting for " + exec.command(), e);
        }
    }
}
