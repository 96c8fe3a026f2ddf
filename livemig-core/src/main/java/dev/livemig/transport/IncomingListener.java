package dev.livemig.transport;

import dev.livemig.wire.MigrationException;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ProtocolFamily;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;

/**
 * The destination's side of a transport: a listening socket (tcp, unix) that accepts connections, or the
 * single channel of an exec: command or file: path. {@link #close()} stops listening and unblocks
 * {@link #accept()}.
 */
public abstract sealed class IncomingListener implements AutoCloseable {
    /** Only the permitted listeners of this file. */
    IncomingListener() {
    }

    interface Opener {
        MigrationChannel open() throws IOException;
    }

    /** The address peers should use (with the real port when tcp port 0 was asked for). */
    public abstract MigrationUri address();

    /** Waits for the next incoming channel. */
    public abstract MigrationChannel accept() throws MigrationException;

    /**
     * Waits for the next incoming channel without the {@link HandshakeGate}: for a channel that may stay silent
     * until it is needed (postcopy-preempt's first bytes are the first requested page, maybe never).
     */
    public MigrationChannel acceptSilent() throws MigrationException {
        return accept();
    }

    @Override
    public abstract void close();

    /** Connections dropped because they did not pass the {@link HandshakeGate} (0 for exec: and file:). */
    public long refusedConnections() {
        return 0;
    }

    static IncomingListener socket(SocketAddress bind, ProtocolFamily family, MigrationUri uri, HandshakeGate gate)
            throws IOException {
        ServerSocketChannel server = family == StandardProtocolFamily.UNIX ? ServerSocketChannel.open(StandardProtocolFamily.UNIX)
                : ServerSocketChannel.open();
        try {
            server.bind(bind);
        } catch (IOException e) {
            server.close();
            throw e;
        }
        MigrationUri bound = uri;
        if (uri instanceof MigrationUri.Tcp tcp && server.getLocalAddress() instanceof InetSocketAddress a) {
            bound = new MigrationUri.Tcp(tcp.host(), a.getPort());
        }
        return new Socket(server, bound, gate);
    }

    static IncomingListener single(MigrationUri uri, Opener opener) {
        return single(uri, opener, HandshakeGate.DEFAULT);
    }

    /** The single channel of {@code uri}, through {@code gate}'s handshake (TLS) if it has one. */
    static IncomingListener single(MigrationUri uri, Opener opener, HandshakeGate gate) {
        return new Single(uri, () -> {
            MigrationChannel raw = opener.open();
            try {
                return gate.complete(raw);
            } catch (IOException e) {
                MigrationChannel.closeQuietly(raw);
                throw e;
            }
        });
    }

    /**
     * Accepts connections until one passes the {@link HandshakeGate}; a refused one is closed, reported
     * (System.Logger of this class, WARNING) and counted, and accepting goes on.
     */
    static final class Socket extends IncomingListener {
        private static final System.Logger LOG = System.getLogger(IncomingListener.class.getName());

        private final ServerSocketChannel server;
        private final MigrationUri address;
        private final HandshakeGate gate;
        private final java.util.concurrent.atomic.AtomicLong refused = new java.util.concurrent.atomic.AtomicLong();

        Socket(ServerSocketChannel server, MigrationUri address, HandshakeGate gate) {
            this.server = server;
            this.address = address;
            this.gate = gate;
        }

        @Override
        public MigrationUri address() {
            return address;
        }

        @Override
        public MigrationChannel accept() throws MigrationException {
            while (true) {
                SocketChannel s;
                String peer;
                try {
                    s = server.accept();
                    peer = String.valueOf(s.getRemoteAddress());
                } catch (IOException e) {
                    throw new MigrationException("accept failed on " + address + ": " + MigrationException.reason(e), e);
                }
                try {
                    if (address instanceof MigrationUri.Tcp) {
                        s.socket().setTcpNoDelay(true);
                    }
                    switch (gate.await(s, () -> !server.isOpen())) {
                        case HandshakeGate.Outcome.Passed(var first) -> {
                            return gate.complete(new SocketMigrationChannel(s, address + " (from " + peer + ")", first));
                        }
                        case HandshakeGate.Outcome.Refused(HandshakeGate.Refusal.ListenerClosed why) -> {
                            s.close();
                            throw new MigrationException("accept failed on " + address + ": " + gate.describe(why));
                        }
                        case HandshakeGate.Outcome.Refused(var why) -> {
                            s.close();
                            refused.incrementAndGet();
                            LOG.log(System.Logger.Level.WARNING, "livemig: dropped a connection to " + address
                                    + " from " + peer + ": it " + gate.describe(why) + "; still listening");
                        }
                    }
                } catch (IOException e) {
                    closeQuietly(s);
                    refused.incrementAndGet();
                    LOG.log(System.Logger.Level.WARNING, "livemig: dropped a connection to " + address + " from " + peer
                            + ": " + MigrationException.reason(e) + "; still listening");
                }
            }
        }

        @Override
        public MigrationChannel acceptSilent() throws MigrationException {
            try {
                SocketChannel s = server.accept();
                if (address instanceof MigrationUri.Tcp) {
                    s.socket().setTcpNoDelay(true);
                }
                try {
                    return gate.complete(new SocketMigrationChannel(s, address + " (from " + s.getRemoteAddress() + ")"));
                } catch (IOException e) {
                    closeQuietly(s);
                    throw e;
                }
            } catch (IOException e) {
                throw new MigrationException("accept failed on " + address + ": " + MigrationException.reason(e), e);
            }
        }

        @Override
        public long refusedConnections() {
            return refused.get();
        }

        private static void closeQuietly(SocketChannel s) {
            try {
                s.close();
            } catch (IOException ignored) {
                // the connection is being dropped anyway
            }
        }

        @Override
        public synchronized void close() {
            if (!server.isOpen()) {
                return; // closed already: its path may belong to a new listener by now
            }
            try {
                server.close();
                if (address instanceof MigrationUri.Unix unix) {
                    java.nio.file.Files.deleteIfExists(unix.path());
                }
            } catch (IOException ignored) {
                // closing a listener cannot fail in a way the caller could act on
            }
        }
    }

    static final class Single extends IncomingListener {
        private final MigrationUri address;
        private final Opener opener;
        private boolean used;

        Single(MigrationUri address, Opener opener) {
            this.address = address;
            this.opener = opener;
        }

        @Override
        public MigrationUri address() {
            return address;
        }

        @Override
        public synchronized MigrationChannel accept() throws MigrationException {
            if (used) {
                throw new MigrationException(address + " carries a single channel; it was already opened");
            }
            used = true;
            try {
                return opener.open();
            } catch (IOException e) {
                throw new MigrationException("cannot open " + address + ": " + MigrationException.reason(e), e);
            }
        }

        @Override
        public void close() {
        }
    }
}
