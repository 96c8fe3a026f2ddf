package dev.livemig.cli;

import dev.livemig.migration.QmpDialect;
import dev.livemig.qmp.QmpServer;
import dev.livemig.transport.MigrationUri;
import dev.livemig.wire.MigrationException;
import picocli.CommandLine.Option;

import java.net.InetSocketAddress;

/**
 * {@code --qmp unix:PATH|tcp:HOST:PORT}: where this process serves QMP, as QEMU's {@code -qmp} does; and
 * {@code --qmp-dialect}, the QEMU release it answers as.
 */
final class QmpOption {
    @Option(names = "--qmp", paramLabel = "unix:PATH|tcp:HOST:PORT",
            description = "Serve QMP here (tcp port 0 picks a free port; the address is printed first).")
    String address;

    @Option(names = "--qmp-dialect", paramLabel = "7.2|10.0",
            description = "Answer QMP as this QEMU release does: its version, capabilities, parameters and texts "
                    + "(default 7.2 for livemig's own machine types).")
    String dialect;

    boolean given() {
        return address != null;
    }

    /**
     * Points {@code builder} at the address; migration URIs and QMP addresses share their syntax. A unix socket
     * file is removed when the process ends by a signal too (SIGTERM runs shutdown hooks, not the
     * try-with-resources that closes the server), registered before the file exists.
     */
    QmpServer.Builder listenOn(QmpServer.Builder builder) throws MigrationException {
        MigrationUri uri = MigrationUri.parse(address);
        WildcardWarning.forQmp(uri).ifPresent(System.err::println);
        if (dialect != null) {
            try {
                builder.dialect(QmpDialect.byLabel(dialect));
            } catch (IllegalArgumentException e) {
                throw new MigrationException("--qmp-dialect: " + e.getMessage());
            }
        }
        return switch (uri) {
            case MigrationUri.Unix(var path) -> {
                Runtime.getRuntime().addShutdownHook(Thread.ofPlatform().name("livemig-qmp-socket-cleanup").unstarted(() -> {
                    try {
                        java.nio.file.Files.deleteIfExists(path);
                    } catch (java.io.IOException e) {
                        // nothing more can be done while the process exits
                    }
                }));
                yield builder.unix(path);
            }
            case MigrationUri.Tcp(String host, int port) -> builder.tcp(new InetSocketAddress(host, port));
            default -> throw new MigrationException("--qmp takes unix:PATH or tcp:HOST:PORT: " + address);
        };
    }

    /** The address a client connects to: the real port when tcp port 0 was asked for. */
    String bound(QmpServer server) {
        InetSocketAddress tcp = server.tcpAddress();
        if (tcp == null) {
            return address;
        }
        String host = tcp.getAddress().getHostAddress();
        return "tcp:" + (host.contains(":") ? "[" + host + "]" : host) + ":" + tcp.getPort();
    }
}
