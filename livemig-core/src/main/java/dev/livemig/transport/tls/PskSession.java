package dev.livemig.transport.tls;

import dev.livemig.transport.MigrationChannel;
import dev.livemig.wire.MigrationException;
import org.bouncycastle.tls.AbstractTlsClient;
import org.bouncycastle.tls.AbstractTlsServer;
import org.bouncycastle.tls.AlertDescription;
import org.bouncycastle.tls.BasicTlsPSKExternal;
import org.bouncycastle.tls.BasicTlsPSKIdentity;
import org.bouncycastle.tls.CipherSuite;
import org.bouncycastle.tls.KeyExchangeAlgorithm;
import org.bouncycastle.tls.NamedGroup;
import org.bouncycastle.tls.PRFAlgorithm;
import org.bouncycastle.tls.ProtocolVersion;
import org.bouncycastle.tls.PskIdentity;
import org.bouncycastle.tls.SecurityParameters;
import org.bouncycastle.tls.TlsAuthentication;
import org.bouncycastle.tls.TlsClient;
import org.bouncycastle.tls.TlsClientProtocol;
import org.bouncycastle.tls.TlsFatalAlert;
import org.bouncycastle.tls.TlsFatalAlertReceived;
import org.bouncycastle.tls.TlsPSKExternal;
import org.bouncycastle.tls.TlsPSKIdentity;
import org.bouncycastle.tls.TlsPSKIdentityManager;
import org.bouncycastle.tls.TlsServer;
import org.bouncycastle.tls.TlsServerProtocol;
import org.bouncycastle.tls.TlsUtils;
import org.bouncycastle.tls.crypto.DHGroup;
import org.bouncycastle.tls.crypto.TlsCrypto;
import org.bouncycastle.tls.crypto.TlsDHConfig;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Optional;
import java.util.Vector;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;

/**
 * A TLS session with a pre-shared key (QEMU's tls-creds-psk), spoken by BouncyCastle's TLS in blocking mode over the
 * raw channel, its cryptography on the JDK's providers.
 *
 * <p>Versions and suites ({@link Suite}): TLS 1.3 with the key as an external PSK and an ephemeral (EC)DHE exchange
 * (psk_dhe_ke), TLS_AES_128_GCM_SHA256 — gnutls binds external PSKs to SHA-256, so the SHA-384 suite cannot carry
 * them; TLS 1.2 for a peer without 1.3, with DHE-PSK AES-GCM or ECDHE-PSK AES-CBC-SHA256. Only ephemeral exchanges,
 * so a key that leaks later does not open recorded sessions; the ChaCha20 suites would need BouncyCastle's own
 * provider and are left out. QEMU's gnutls (priority NORMAL:+ECDHE-PSK:+DHE-PSK:+PSK) settles on TLS 1.3 with us.
 *
 * <p>Identities: the client sends its username; the server looks it up in keys.psk for each handshake and, as
 * gnutls does, answers a username it lacks with a random key. The client then fails as for a wrong key and learns
 * nothing of which usernames exist; the server's message names the username.
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

    /** The keys.psk a server consults for each client. */
    interface ServerKeys {
        /** The key of {@code identity}; empty when the file has none; a TlsException when it cannot be read. */
        Optional<byte[]> key(byte[] identity) throws TlsException;

        /** The file, for messages. */
        Path path();
    }

    /** The cipher suites a client offers and a server accepts, by preference; those the JDK cannot run are dropped. */
    enum Suite {
        TLS_AES_128_GCM_SHA256(CipherSuite.TLS_AES_128_GCM_SHA256),
        TLS_DHE_PSK_WITH_AES_128_GCM_SHA256(CipherSuite.TLS_DHE_PSK_WITH_AES_128_GCM_SHA256),
        TLS_DHE_PSK_WITH_AES_256_GCM_SHA384(CipherSuite.TLS_DHE_PSK_WITH_AES_256_GCM_SHA384),
        TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256(CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256);

        final int code;

        Suite(int code) {
            this.code = code;
        }

        static int[] usable(TlsCrypto crypto) {
            return TlsUtils.getSupportedCipherSuites(crypto, Arrays.stream(values()).mapToInt(s -> s.code).toArray());
        }

        static String name(int code) {
            return Arrays.stream(values()).filter(s -> s.code == code).map(Enum::name).findFirst()
                    .orElse(String.format("0x%04x", code));
        }
    }

    /** The TLS 1.3 hash gnutls binds an external PSK to. */
    private static final int PSK_PRF = PRFAlgorithm.tls13_hkdf_sha256;
    /** Versions, newest first. */
    private static final ProtocolVersion[] VERSIONS = ProtocolVersion.TLSv13.downTo(ProtocolVersion.TLSv12);
    /** Application bytes handed to BouncyCastle at once: several full records. */
    private static final int STAGING_BYTES = 64 * 1024;
    /** The largest record payload TLS carries. */
    private static final int RECORD_BYTES = 16 * 1024;
    /** gnutls's random key for a username keys.psk lacks is 16 bytes. */
    private static final int FAKE_KEY_BYTES = 16;

    private final MigrationChannel raw;
    private final TlsEndpoint endpoint;
    /** A server's keys.psk, for messages; null for a client. */
    private final Path pskFile;
    private final RawInput input;
    private final RawOutput output;
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
    /** The identity sent (client) or received (server), printable, for messages; null until known. */
    private volatile String identity;
    /** A server's text for an identity keys.psk lacks (it then used a random key); null otherwise. */
    private volatile String unknownIdentity;
    /** Why a server could not look an identity up (keys.psk unreadable or malformed); null otherwise. */
    private volatile TlsException lookupFailure;

    private PskSession(MigrationChannel raw, TlsEndpoint endpoint, Path pskFile,
            Function<PskSession, Protocol> protocol) {
        this.raw = raw;
        this.endpoint = endpoint;
        this.pskFile = pskFile;
        this.input = new RawInput(raw);
        this.output = new RawOutput(raw);
        this.protocol = protocol.apply(this);
    }

    /** A client session that sends {@code identity} (a username's bytes) and uses {@code key}. */
    static PskSession client(MigrationChannel raw, TlsCrypto crypto, byte[] identity, byte[] key) {
        var session = new PskSession(raw, TlsEndpoint.CLIENT, null,
                s -> s.new ClientProtocol(new Client(crypto, identity, key)));
        session.identity = printable(identity);
        return session;
    }

    /** A server session taking the keys of clients from {@code keys}; {@code dhParams} (null: none) for DHE-PSK. */
    static PskSession server(MigrationChannel raw, TlsCrypto crypto, ServerKeys keys, DHGroup dhParams) {
        return new PskSession(raw, TlsEndpoint.SERVER, keys.path(),
                s -> s.new ServerProtocol(s.new Server(crypto, keys, dhParams)));
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
        return "TLSv1." + (p.getNegotiatedVersion().getMinorVersion() - 1) + " " + Suite.name(p.getCipherSuite());
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
        if (lookupFailure != null) {
            return lookupFailure.getMessage();
        }
        if (e instanceof TlsException ours) {
            return ours.getMessage();
        }
        Optional<String> notTls = input.notTls();
        if (notTls.isPresent()) {
            return notTls.get();
        }
        if (input.broken() instanceof ClosedChannelException) {
            return "the channel was closed on this side (" + raw.describe() + ")"; // a handshake timeout, say
        }
        boolean hungUp = input.ended() || input.broken() != null;
        if (!handshakeDone && hungUp && !(e instanceof TlsFatalAlertReceived)) {
            return closedDuringHandshake();
        }
        if (e instanceof EOFException) {
            return "the " + peer() + " closed the connection in the middle of a TLS record (" + raw.describe() + ")";
        }
        return switch (e) {
            case TlsFatalAlertReceived r -> withHint(r.getAlertDescription(), true,
                    "the " + peer() + " sent alert " + AlertDescription.getText(r.getAlertDescription()));
            case TlsFatalAlert a -> withHint(a.getAlertDescription(), a.getMessage().contains("cipher suite"),
                    "alert " + a.getMessage());
            default -> protocol.isFailed() && handshakeDone
                    ? "the session failed earlier (" + MigrationException.reason(e) + ")"
                    : MigrationException.reason(e);
        };
    }

    /**
     * What an alert says of the keys, or of what the peers have in common, then the alert itself; {@code vague}: a
     * handshake_failure says nothing more (one received, or BouncyCastle's "no selectable cipher suite").
     */
    private String withHint(short alert, boolean vague, String what) {
        String hint = switch (alert) {
            case AlertDescription.decrypt_error, AlertDescription.bad_record_mac -> keyMismatch();
            // gnutls refuses a PSK binder that does not verify so
            case AlertDescription.illegal_parameter ->
                    endpoint == TlsEndpoint.CLIENT && !handshakeDone ? keyMismatch() : null;
            case AlertDescription.unknown_psk_identity -> "the server does not know username " + identity;
            case AlertDescription.protocol_version -> "no TLS version in common (livemig speaks TLSv1.3 and TLSv1.2)";
            case AlertDescription.handshake_failure, AlertDescription.insufficient_security -> !vague ? null
                    : "no TLS version and cipher suite in common with a PSK key exchange (livemig offers "
                            + Arrays.toString(Suite.values()) + ")";
            default -> null;
        };
        return hint == null ? what : hint + " (" + what + ")";
    }

    private String keyMismatch() {
        if (endpoint == TlsEndpoint.CLIENT) {
            return "the server has another key for username " + identity + ", or no such username";
        }
        if (unknownIdentity != null) {
            return unknownIdentity;
        }
        return identity == null ? "the client's key is not ours"
                : "the client's key for username " + identity + " is not the one in " + pskFile;
    }

    /**
     * The peer hung up mid-handshake. A QEMU server does so, without an alert, when it does not take the client's key
     * (with TLS 1.3 right after the ClientHello); a server without TLS, after reading the ClientHello as a broken
     * migration stream. A client cannot tell which.
     */
    private String closedDuringHandshake() {
        IOException broken = input.broken();
        String closed = "the " + peer() + " closed the connection (" + raw.describe()
                + (broken != null ? ": " + MigrationException.reason(broken) : "") + ")";
        if (endpoint == TlsEndpoint.SERVER) {
            return closed;
        }
        return input.receivedAny()
                ? closed + " mid-handshake: " + keyMismatch() + " (QEMU hangs up without an alert)"
                : closed + " without answering: " + keyMismatch() + " (QEMU hangs up without an alert), or it listens"
                        + " without TLS";
    }

    private String peer() {
        return endpoint == TlsEndpoint.CLIENT ? "server" : "client";
    }

    private static String printable(byte[] identity) {
        return MigrationException.quote(new String(identity, StandardCharsets.ISO_8859_1));
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
     * What the session needs of BouncyCastle's client or server protocol; both are subclassed alike (below) to keep
     * half-closes and to route alerts through {@link #alert}. The data methods are TlsProtocol's own.
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
        private final TlsClient client;

        ClientProtocol(TlsClient client) {
            super(input, output);
            this.client = client;
        }

        @Override
        public void start() throws IOException {
            connect(client);
        }

        @Override
        public void closeNotify() throws IOException {
            raiseAlertWarning(AlertDescription.close_notify, "output closed");
        }

        @Override
        public SecurityParameters negotiated() {
            return getContext().getSecurityParametersConnection();
        }

        /** The peer's close_notify, or the end of the raw stream: the end of reads, not of the session. */
        @Override
        protected void handleClose(boolean userCanceled) throws IOException {
            if (userCanceled) {
                super.handleClose(true);
            } else {
                peerEnded = true;
            }
        }

        @Override
        protected void safeReadRecord() throws IOException {
            if (peerEnded) {
                throw new PeerEnded();
            }
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

    private final class ServerProtocol extends TlsServerProtocol implements Protocol {
        private final TlsServer server;

        ServerProtocol(TlsServer server) {
            super(input, output);
            this.server = server;
        }

        @Override
        public void start() throws IOException {
            accept(server);
        }

        @Override
        public void closeNotify() throws IOException {
            raiseAlertWarning(AlertDescription.close_notify, "output closed");
        }

        @Override
        public SecurityParameters negotiated() {
            return getContext().getSecurityParametersConnection();
        }

        /** As {@link ClientProtocol#handleClose}. */
        @Override
        protected void handleClose(boolean userCanceled) throws IOException {
            if (userCanceled) {
                super.handleClose(true);
            } else {
                peerEnded = true;
            }
        }

        @Override
        protected void safeReadRecord() throws IOException {
            if (peerEnded) {
                throw new PeerEnded();
            }
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

    /** The client's side of the handshake: username and key as a TLS 1.3 external PSK and a TLS 1.2 PSK identity. */
    private static final class Client extends AbstractTlsClient {
        private final byte[] identity;
        private final byte[] key;

        Client(TlsCrypto crypto, byte[] identity, byte[] key) {
            super(crypto);
            this.identity = identity.clone();
            this.key = key.clone();
        }

        @Override
        protected ProtocolVersion[] getSupportedVersions() {
            return VERSIONS.clone();
        }

        @Override
        protected int[] getSupportedCipherSuites() {
            return Suite.usable(getCrypto());
        }

        @Override
        public Vector<TlsPSKExternal> getExternalPSKs() {
            var psks = new Vector<TlsPSKExternal>();
            psks.add(new BasicTlsPSKExternal(identity, getCrypto().createSecret(key), PSK_PRF));
            return psks;
        }

        @Override
        public TlsPSKIdentity getPSKIdentity() {
            return new BasicTlsPSKIdentity(identity, key);
        }

        /** Called only when a server sends a certificate instead of taking the key. */
        @Override
        public TlsAuthentication getAuthentication() throws IOException {
            throw new TlsFatalAlert(AlertDescription.handshake_failure,
                    "the server authenticates with a certificate, not with a pre-shared key (tls-creds-x509?)");
        }

        @Override
        public boolean requiresCloseNotify() {
            return false;
        }
    }

    /** The server's side of the handshake: each client's key from keys.psk, found when the client names itself. */
    private final class Server extends AbstractTlsServer {
        private final ServerKeys keys;
        private final DHGroup dhParams;

        Server(TlsCrypto crypto, ServerKeys keys, DHGroup dhParams) {
            super(crypto);
            this.keys = keys;
            this.dhParams = dhParams;
        }

        @Override
        protected ProtocolVersion[] getSupportedVersions() {
            return VERSIONS.clone();
        }

        @Override
        protected int[] getSupportedCipherSuites() {
            return Suite.usable(getCrypto());
        }

        /** TLS 1.3: the first identity offered (gnutls and livemig clients offer one). */
        @Override
        public TlsPSKExternal getExternalPSK(@SuppressWarnings("rawtypes") Vector identities) throws IOException {
            if (identities.isEmpty()) {
                return null;
            }
            byte[] id = ((PskIdentity) identities.elementAt(0)).getIdentity();
            return new BasicTlsPSKExternal(id, getCrypto().createSecret(keyOf(id)), PSK_PRF);
        }

        /** TLS 1.2: BouncyCastle asks when the ClientKeyExchange names the identity. */
        @Override
        public TlsPSKIdentityManager getPSKIdentityManager() {
            return new TlsPSKIdentityManager() {
                @Override
                public byte[] getHint() {
                    return null; // QEMU sets none
                }

                @Override
                public byte[] getPSK(byte[] id) {
                    try {
                        return keyOf(id);
                    } catch (TlsException e) {
                        throw new UncheckedIOException(e); // this callback may not throw IOException
                    }
                }
            };
        }

        /** PSK key exchanges need no certificate; a client that offers no key gets nowhere. */
        @Override
        public org.bouncycastle.tls.TlsCredentials getCredentials() throws IOException {
            int kx = context.getSecurityParametersHandshake().getKeyExchangeAlgorithm();
            if (kx == KeyExchangeAlgorithm.DHE_PSK || kx == KeyExchangeAlgorithm.ECDHE_PSK) {
                return null;
            }
            throw new TlsFatalAlert(AlertDescription.handshake_failure, "the client offered no pre-shared key");
        }

        /**
         * DHE-PSK: a group the client names (RFC 7919), else dh-params.pem if there is one — what gnutls does with
         * parameters QEMU gives it — else BouncyCastle's default.
         */
        @Override
        public TlsDHConfig getDHConfig() throws IOException {
            int[] offered = context.getSecurityParametersHandshake().getClientSupportedGroups();
            boolean named = offered != null && Arrays.stream(offered).anyMatch(NamedGroup::isFiniteField);
            return dhParams != null && !named ? new TlsDHConfig(dhParams) : super.getDHConfig();
        }

        @Override
        public boolean requiresCloseNotify() {
            return false;
        }

        /** The key of {@code id}, or as gnutls does for a username keys.psk lacks, a random one (noted). */
        private byte[] keyOf(byte[] id) throws TlsException {
            identity = printable(id);
            try {
                Optional<byte[]> key = keys.key(id);
                if (key.isPresent()) {
                    return key.get();
                }
            } catch (TlsException e) {
                lookupFailure = e;
                throw e;
            }
            unknownIdentity = "Username " + identity + " not found in PSK file " + keys.path();
            byte[] fake = new byte[FAKE_KEY_BYTES];
            getCrypto().getSecureRandom().nextBytes(fake);
            return fake;
        }
    }

    /**
     * The raw channel as BouncyCastle's input: read in large pieces (BouncyCastle asks for a record header, then its
     * body); remembers the peer's first bytes, to tell a peer that does not speak TLS. Closing leaves the channel open.
     */
    private static final class RawInput extends InputStream {
        /** A TLS record starts with a content type (20 to 24), then major version 3. */
        private static final int HEAD_BYTES = 5;

        private final MigrationChannel raw;
        private final ByteBuffer buffer = ByteBuffer.allocateDirect(64 * 1024).flip();
        private final byte[] head = new byte[HEAD_BYTES];
        private volatile int headLength;
        private volatile boolean ended;
        private volatile IOException broken;

        RawInput(MigrationChannel raw) {
            this.raw = raw;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) {
                return 0;
            }
            if (!buffer.hasRemaining() && !fill()) {
                return -1;
            }
            int n = Math.min(len, buffer.remaining());
            buffer.get(b, off, n);
            return n;
        }

        private boolean fill() throws IOException {
            buffer.clear();
            int n;
            try {
                do {
                    n = raw.read(buffer);
                } while (n == 0);
            } catch (IOException e) {
                broken = e;
                throw e;
            } finally {
                buffer.flip();
            }
            if (n < 0) {
                ended = true;
                return false;
            }
            if (headLength < HEAD_BYTES) {
                int c = Math.min(HEAD_BYTES - headLength, buffer.remaining());
                buffer.get(buffer.position(), head, headLength, c);
                headLength += c;
            }
            return true;
        }

        /** Whether the raw stream ended. */
        boolean ended() {
            return ended;
        }

        /** What the raw channel failed with (a reset, say), or null. */
        IOException broken() {
            return broken;
        }

        /** Whether the peer sent anything at all. */
        boolean receivedAny() {
            return headLength > 0;
        }

        /** A message when the peer's first bytes cannot begin a TLS record. */
        Optional<String> notTls() {
            int n = headLength;
            boolean tls = n == 0 || (head[0] >= 20 && head[0] <= 24 && (n < 2 || head[1] == 3));
            return tls ? Optional.empty() : Optional.of("the peer does not speak TLS: its first bytes are "
                    + HexFormat.ofDelimiter(" ").formatHex(head, 0, n) + " (a migration without TLS?)");
        }

        @Override
        public void close() {
            // the raw channel is its owner's to close
        }
    }

    /**
     * The raw channel as BouncyCastle's output. BouncyCastle flushes after every record; while a write gathers, the
     * records collect here and go out in few large writes. Closing leaves the channel open.
     */
    private static final class RawOutput extends OutputStream {
        private final MigrationChannel raw;
        private final ByteBuffer buffer = ByteBuffer.allocateDirect(256 * 1024);
        private boolean gathering;

        RawOutput(MigrationChannel raw) {
            this.raw = raw;
        }

        void gather(boolean on) {
            gathering = on;
        }

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            if (len > buffer.remaining()) {
                drain();
            }
            if (len > buffer.capacity()) {
                ByteBuffer all = ByteBuffer.wrap(b, off, len);
                while (all.hasRemaining()) {
                    raw.write(all);
                }
                return;
            }
            buffer.put(b, off, len);
        }

        @Override
        public void flush() throws IOException {
            if (!gathering) {
                drain();
            }
        }

        private void drain() throws IOException {
            buffer.flip();
            try {
                while (buffer.hasRemaining()) {
                    raw.write(buffer);
                }
            } finally {
                buffer.clear();
            }
        }

        @Override
        public void close() {
            // the raw channel is its owner's to close
        }
    }
}
