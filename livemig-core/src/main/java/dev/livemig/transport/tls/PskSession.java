package dev.livemig.transport.tls;

import dev.livemig.transport.MigrationChannel;
import dev.livemig.wire.MigrationException;
import org.bouncycastle.tls.AlertDescription;
import org.bouncycastle.tls.SecurityParameters;
import org.bouncycastle.tls.TlsClientProtocol;
import org.bouncycastle.tls.TlsServerProtocol;
import org.bouncycastle.tls.crypto.DHGroup;
import org.bouncycastle.tls.crypto.TlsCrypto;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;

/**
 * A TLS session with a pre-shared key (QEMU's tls-creds-psk), spoken by BouncyCastle's TLS in blocking mode over the
 * raw channel, its cryptography on the JDK's providers.
 *
 * <p>Versions and suites ({@link PskCipherSuite}): TLS 1.3 with the key as an external PSK and an ephemeral (EC)DHE
 * exchange (psk_dhe_ke), TLS_AES_128_GCM_SHA256 — gnutls binds external PSKs to SHA-256, so the SHA-384 suite cannot
 * carry them; TLS 1.2 for a peer without 1.3, with DHE-PSK AES-GCM or ECDHE-PSK AES-CBC-SHA256. Only ephemeral
 * exchanges, so a key that leaks later does not open recorded sessions; the ChaCha20 suites would need BouncyCastle's
 * own provider and are left out. QEMU's gnutls (priority NORMAL:+ECDHE-PSK:+DHE-PSK:+PSK) settles on TLS 1.3 with us.
 *
 * <p>Identities: the client sends its username; the server looks it up in keys.psk for each handshake and, as
 * gnutls does, answers a username it lacks with a random key. The client then fails as for a wrong key and learns
 * nothing of which usernames exist; the server's message names the username. The peers' sides of the handshake are
 * {@link PskTlsClient} and {@link PskTlsServer}; a failure's words come from {@link PskSessionFailure}.
 *
 * <p>Threads: the handshake runs alone; afterwards one thread may read while another writes (the stream one way,
 * the return path the other). BouncyCastle keeps a cipher state per direction, so reading and writing records do not
 * meet — except that the reading side writes alerts (fatal ones for a bad record, a refusal of renegotiation). Every
 * record goes out under the write lock; the reading side takes it only if it is free: while a write is under way its
 * alert is dropped, rather than cut into the record being written or left waiting behind a write that a stalled peer
 * may never let finish. The failure is reported on this side either way.
 *
 * <p>Ends: the peer's close_notify ends reads (-1) and nothing else. BouncyCastle would answer with its own and close
 * the connection, cutting the return path while the stream still flows; it is kept from doing so, and from failing
 * reads when the raw stream ends without close_notify (QEMU 10.0 sends one on multifd channels only; the
 * migration stream's own end markers tell whether it came whole). {@link #closeOutbound()} sends close_notify and
 * shuts the raw channel's output; reads go on. Closing the raw channel is its owner's business.
 */
final class PskSession implements TlsSession {
    /** Application bytes handed to BouncyCastle at once: several full records. */
    private static final int STAGING_BYTES = 64 * 1024;
    /** The largest record payload TLS carries. */
    private static final int RECORD_BYTES = 16 * 1024;

    private final MigrationChannel raw;
    private final TlsEndpoint endpoint;
    /** A client's identity, printable, for messages; null for a server (its peer learns the client's). */
    private final String clientIdentity;
    /** A server's side of the handshake, which learns the client's identity; null for a client. */
    private final PskTlsServer server;
    private final RawChannelInput input;
    private final RawChannelOutput output;
    private final Protocol protocol;
    private final ReentrantLock readLock = new ReentrantLock();
    private final ReentrantLock writeLock = new ReentrantLock();
    /** Under the read lock: where BouncyCastle reads into when the caller's buffer has no array. */
    private final byte[] readBuffer = new byte[RECORD_BYTES];
    /** Under the write lock: where application bytes are gathered into full records. */
    private final byte[] staging = new byte[STAGING_BYTES];
    private boolean handshakeStarted;
    private volatile boolean handshakeDone;
    /** The peer ended its direction (close_notify, or the end of the raw stream). */
    private volatile boolean peerEnded;
    /** Under the write lock: close_notify sent. */
    private boolean outputClosed;

    private PskSession(MigrationChannel raw, TlsEndpoint endpoint, String clientIdentity, PskTlsServer server,
            Function<PskSession, Protocol> protocol) {
        this.raw = raw;
        this.endpoint = endpoint;
        this.clientIdentity = clientIdentity;
        this.server = server;
        this.input = new RawChannelInput(raw);
        this.output = new RawChannelOutput(raw);
        this.protocol = protocol.apply(this);
    }

    /** A client session that sends {@code identity} (a username's bytes) and uses {@code key}. */
    static PskSession client(MigrationChannel raw, TlsCrypto crypto, byte[] identity, byte[] key) {
        var client = new PskTlsClient(crypto, identity, key);
        return new PskSession(raw, TlsEndpoint.CLIENT, printable(identity), null, s -> s.new ClientProtocol(client));
    }

    /** A server session taking the keys of clients from {@code keys}; {@code dhParams} (null: none) for DHE-PSK. */
    static PskSession server(MigrationChannel raw, TlsCrypto crypto, PskKeysFile keys, DHGroup dhParams) {
        var server = new PskTlsServer(crypto, keys, dhParams);
        return new PskSession(raw, TlsEndpoint.SERVER, null, server, s -> s.new ServerProtocol(server));
    }

    @Override
    public void handshake() throws IOException {
        readLock.lock();
        writeLock.lock();
        try {
            if (handshakeStarted) {
                throw new IllegalStateException("the TLS handshake of a session runs once");
            }
            handshakeStarted = true;
            try {
                protocol.start();
            } catch (IOException | RuntimeException e) {
                throw new TlsException("TLS handshake failed: " + reason(e), e);
            }
            handshakeDone = true;
        } finally {
            writeLock.unlock();
            readLock.unlock();
        }
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        readLock.lock();
        try {
            requireHandshake();
            if (!dst.hasRemaining()) {
                return 0;
            }
            if (peerEnded && protocol.applicationDataAvailable() == 0) {
                return -1;
            }
            try {
                if (dst.hasArray()) {
                    int at = dst.arrayOffset() + dst.position();
                    int n = protocol.readApplicationData(dst.array(), at, dst.remaining());
                    dst.position(dst.position() + Math.max(n, 0));
                    return n;
                }
                int n = protocol.readApplicationData(readBuffer, 0, Math.min(dst.remaining(), readBuffer.length));
                dst.put(readBuffer, 0, Math.max(n, 0));
                return n;
            } catch (PeerEnded e) {
                return -1;
            } catch (IOException e) {
                throw new TlsException("Cannot read from TLS channel: " + reason(e), e);
            }
        } finally {
            readLock.unlock();
        }
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        return (int) write(new ByteBuffer[] {src}, 0, 1);
    }

    /** Gathers the buffers into full records (a page header and its page share one) and writes them at once. */
    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        writeLock.lock();
        try {
            requireHandshake();
            if (outputClosed) {
                throw new TlsException("Cannot write to TLS channel: its output was closed (close_notify sent)");
            }
            long total = 0;
            try {
                output.gather(true);
                int staged = 0;
                for (int i = offset; i < offset + length; i++) {
                    while (srcs[i].hasRemaining()) {
                        int n = Math.min(srcs[i].remaining(), staging.length - staged);
                        srcs[i].get(staging, staged, n);
                        staged += n;
                        total += n;
                        if (staged == staging.length) {
                            protocol.writeApplicationData(staging, 0, staged);
                            staged = 0;
                        }
                    }
                }
                if (staged > 0) {
                    protocol.writeApplicationData(staging, 0, staged);
                }
                output.gather(false);
                output.flush();
            } catch (IOException e) {
                throw new TlsException("Cannot write to TLS channel: " + reason(e), e);
            } finally {
                output.gather(false);
            }
            return total;
        } finally {
            writeLock.unlock();
        }
    }

    @Override
    public void closeOutbound() throws IOException {
        writeLock.lock();
        try {
            if (outputClosed) {
                return;
            }
            outputClosed = true;
            try {
                if (handshakeDone && !protocol.isFailed()) {
                    protocol.closeNotify();
                    output.flush();
                }
            } finally {
                raw.shutdownOutput();
            }
        } finally {
            writeLock.unlock();
        }
    }

    /** "TLSv1.3 TLS_AES_128_GCM_SHA256", in the JDK's words. */
    @Override
    public String describe() {
        SecurityParameters p = handshakeDone ? protocol.negotiated() : null;
        if (p == null) {
            return "TLS (no handshake)";
        }
        return "TLSv1." + (p.getNegotiatedVersion().getMinorVersion() - 1) + " "
                + PskCipherSuite.name(p.getCipherSuite());
    }

    private void requireHandshake() {
        if (!handshakeDone) {
            throw new IllegalStateException("TLS session used before its handshake completed");
        }
    }

    /**
     * Writes an alert if no write is under way on another thread (see the class comment); the writing thread, and the
     * handshake, hold the lock already.
     */
    private void alert(IoAction send) throws IOException {
        if (writeLock.isHeldByCurrentThread()) {
            send.run();
        } else if (writeLock.tryLock()) {
            try {
                send.run();
            } finally {
                writeLock.unlock();
            }
        }
    }

    /** Why the session failed, in words that point at the cause. */
    private String reason(Throwable e) {
        var failure = server == null
                ? new PskSessionFailure(endpoint, raw, input, handshakeDone, protocol.isFailed(), clientIdentity,
                        null, null, null)
                : new PskSessionFailure(endpoint, raw, input, handshakeDone, protocol.isFailed(), server.identity(),
                        server.unknownIdentity(), server.lookupFailure(), server.keysPath());
        return failure.reason(e);
    }

    /** An identity as messages show it. */
    static String printable(byte[] identity) {
        return MigrationException.quote(new String(identity, StandardCharsets.ISO_8859_1));
    }

    /** The peer's close_notify, or the end of the raw stream: the end of reads, not of the session. */
    private void peerClosed(boolean userCanceled, IoAction close) throws IOException {
        if (userCanceled) {
            close.run();
        } else {
            peerEnded = true;
        }
    }

    /** Ends BouncyCastle's read loop once the peer has ended its direction. */
    private void requirePeerNotEnded() throws PeerEnded {
        if (peerEnded) {
            throw new PeerEnded();
        }
    }

    /** An I/O step handed to {@link #alert}. */
    @FunctionalInterface
    private interface IoAction {
        void run() throws IOException;
    }

    /** Thrown out of BouncyCastle's read loop once the peer has ended its direction: {@link #read} returns -1. */
    private static final class PeerEnded extends IOException {
        PeerEnded() {
            super("the peer ended its direction", null);
        }

        @Override
        public synchronized Throwable fillInStackTrace() {
            return this; // control flow, not a failure
        }
    }

    /**
     * What the session needs of BouncyCastle's client or server protocol. Both are subclassed alike (below): Java
     * has no other way into TlsProtocol's protected steps. They keep half-closes ({@link #peerClosed}) and route
     * alerts through {@link #alert}; the data methods are TlsProtocol's own.
     */
    private interface Protocol {
        void start() throws IOException;

        int readApplicationData(byte[] buf, int off, int len) throws IOException;

        void writeApplicationData(byte[] buf, int off, int len) throws IOException;

        int applicationDataAvailable();

        boolean isFailed();

        void closeNotify() throws IOException;

        SecurityParameters negotiated();
    }

    private final class ClientProtocol extends TlsClientProtocol implements Protocol {
        private final PskTlsClient peer;

        ClientProtocol(PskTlsClient peer) {
            super(input, output);
            this.peer = peer;
        }

        @Override
        public void start() throws IOException {
            connect(peer);
        }

        @Override
        public void closeNotify() throws IOException {
            raiseAlertWarning(AlertDescription.close_notify, "output closed");
        }

        @Override
        public SecurityParameters negotiated() {
            return getContext().getSecurityParametersConnection();
        }

        @Override
        protected void handleClose(boolean userCanceled) throws IOException {
            peerClosed(userCanceled, () -> super.handleClose(true));
        }

        @Override
        protected void safeReadRecord() throws IOException {
            requirePeerNotEnded();
            super.safeReadRecord();
        }

        @Override
        protected void raiseAlertFatal(short alert, String message, Throwable cause) throws IOException {
            alert(() -> super.raiseAlertFatal(alert, message, cause));
        }

        @Override
        protected void raiseAlertWarning(short alert, String message) throws IOException {
            alert(() -> super.raiseAlertWarning(alert, message));
        }
    }

    /** As {@link ClientProtocol}, line for line. */
    private final class ServerProtocol extends TlsServerProtocol implements Protocol {
        private final PskTlsServer peer;

        ServerProtocol(PskTlsServer peer) {
            super(input, output);
            this.peer = peer;
        }

        @Override
        public void start() throws IOException {
            accept(peer);
        }

        @Override
        public void closeNotify() throws IOException {
            raiseAlertWarning(AlertDescription.close_notify, "output closed");
        }

        @Override
        public SecurityParameters negotiated() {
            return getContext().getSecurityParametersConnection();
        }

        @Override
        protected void handleClose(boolean userCanceled) throws IOException {
            peerClosed(userCanceled, () -> super.handleClose(true));
        }

        @Override
        protected void safeReadRecord() throws IOException {
            requirePeerNotEnded();
            super.safeReadRecord();
        }

        @Override
        protected void raiseAlertFatal(short alert, String message, Throwable cause) throws IOException {
            alert(() -> super.raiseAlertFatal(alert, message, cause));
        }

        @Override
        protected void raiseAlertWarning(short alert, String message) throws IOException {
            alert(() -> super.raiseAlertWarning(alert, message));
        }
    }
}
