package dev.livemig.transport.tls;

import dev.livemig.json.Json;
import dev.livemig.testing.Await;
import dev.livemig.transport.IncomingListener;
import dev.livemig.transport.MigrationChannel;
import dev.livemig.transport.MigrationUri;
import dev.livemig.transport.Transports;
import org.bouncycastle.tls.BasicTlsPSKIdentity;
import org.bouncycastle.tls.PSKTlsClient;
import org.bouncycastle.tls.PSKTlsServer;
import org.bouncycastle.tls.TlsClientProtocol;
import org.bouncycastle.tls.TlsPSKIdentityManager;
import org.bouncycastle.tls.TlsServerProtocol;
import org.bouncycastle.tls.crypto.TlsCrypto;
import org.bouncycastle.tls.crypto.impl.jcajce.JcaTlsCryptoProvider;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** PSK sessions over real unix sockets: they agree, carry both directions at once, and refuse what they should. */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class PskSessionTest {
    private static final long WAIT_SECONDS = Await.DEADLINE.toSeconds();
    /** What a TLS 1.2 peer gets: an ephemeral PSK key exchange with AES. */
    private static final String TLS12_EPHEMERAL_PSK = "TLSv1\\.2 TLS_(EC)?DHE_PSK_WITH_AES_\\d+_(GCM|CBC)_SHA\\d+";

    private final ExecutorService peer = Executors.newVirtualThreadPerTaskExecutor();
    private final List<MigrationChannel> channels = new ArrayList<>();
    private final String key = randomKey();
    private IncomingListener listener;
    private MigrationUri uri;

    @TempDir
    Path dir;

    @BeforeEach
    void listen() throws Exception {
        uri = MigrationUri.parse("unix:" + dir.resolve("socket"));
        listener = Transports.listen(uri);
    }

    @AfterEach
    void closeAll() {
        channels.forEach(MigrationChannel::closeQuietly);
        listener.close();
        peer.shutdownNow();
    }

    private static String randomKey() {
        byte[] k = new byte[32];
        new SecureRandom().nextBytes(k);
        return HexFormat.of().formatHex(k);
    }

    /** A credentials directory {@code name} whose keys.psk holds {@code lines}. */
    private Path keysDir(String name, String lines) throws IOException {
        Path d = Files.createDirectories(dir.resolve(name));
        Files.writeString(d.resolve("keys.psk"), lines);
        return d;
    }

    private static PskCredentials client(Path keys, String username) throws UserObjectException {
        var props = Json.object().put("dir", keys.toString()).put("endpoint", "client");
        return PskCredentials.create("c", (username == null ? props : props.put("username", username)).build());
    }

    private static PskCredentials server(Path keys) throws UserObjectException {
        return PskCredentials.create("s", Json.object().put("dir", keys.toString()).put("endpoint", "server").build());
    }

    private MigrationChannel track(MigrationChannel c) {
        synchronized (channels) {
            channels.add(c);
        }
        return c;
    }

    private MigrationChannel connectRaw() throws Exception {
        return track(Transports.connect(uri));
    }

    private MigrationChannel acceptRaw() throws Exception {
        return track(listener.accept());
    }

    /** Both handshakes, each on its own thread: the server's accept returns once the ClientHello is on its way. */
    private record Handshakes(Future<TlsSession> client, Future<TlsSession> server) {
    }

    private Handshakes handshake(PskCredentials c, PskCredentials s) {
        Future<TlsSession> server = serverHandshake(s);
        Future<TlsSession> client = clientHandshake(c, "ignored.example");
        return new Handshakes(client, server);
    }

    /** The server's handshake on the next channel accepted, on its own thread. */
    private Future<TlsSession> serverHandshake(PskCredentials s) {
        return peer.submit(() -> handshaken(s.server(acceptRaw(), null)));
    }

    /** The client's handshake on a new connection, on its own thread. */
    private Future<TlsSession> clientHandshake(PskCredentials c, String hostname) {
        return peer.submit(() -> handshaken(c.client(connectRaw(), hostname)));
    }

    private static TlsSession handshaken(TlsSession session) throws IOException {
        session.handshake();
        return session;
    }

    private static <T> T await(Future<T> f) throws Exception {
        return f.get(WAIT_SECONDS, TimeUnit.SECONDS);
    }

    /** The message of the TlsException {@code f} ended with. */
    private static String failure(Future<?> f) {
        var e = assertThrows(ExecutionException.class, () -> await(f));
        return assertInstanceOf(TlsException.class, e.getCause()).getMessage();
    }

    private static byte[] readToEnd(TlsSession s) throws IOException {
        var out = new ByteArrayOutputStream();
        ByteBuffer buf = ByteBuffer.allocate(10_000);
        while (s.read(buf.clear()) >= 0) {
            out.write(buf.array(), 0, buf.position());
        }
        return out.toByteArray();
    }

    private static byte[] readExactly(TlsSession s, int n) throws IOException {
        ByteBuffer buf = ByteBuffer.allocateDirect(n);
        while (buf.hasRemaining()) {
            if (s.read(buf) < 0) {
                throw new IOException("end after " + buf.position() + " of " + n + " bytes");
            }
        }
        byte[] b = new byte[n];
        buf.flip().get(b);
        return b;
    }

    private static ByteBuffer bytes(String s) {
        return ByteBuffer.wrap(s.getBytes(StandardCharsets.US_ASCII));
    }

    @Test
    void clientAndServerAgreeOnTls13WithAesGcm() throws Exception {
        Path keys = keysDir("k", "qemu:" + key + "\n");
        var h = handshake(client(keys, null), server(keys));
        assertEquals("TLSv1.3 TLS_AES_128_GCM_SHA256", await(h.client()).describe());
        assertEquals("TLSv1.3 TLS_AES_128_GCM_SHA256", await(h.server()).describe());
    }

    /**
     * The stream one way and the return path the other, each side reading and writing on two threads: 8 MiB in
     * chunks of every size and buffer kind (heap, direct, read-only, gathered) while small replies come back.
     */
    @Test
    void megabytesOneWayWhileSmallMessagesComeBackTheOtherWay() throws Exception {
        Path keys = keysDir("k", "qemu:" + key + "\n");
        var h = handshake(client(keys, null), server(keys));
        TlsSession source = await(h.client());
        TlsSession destination = await(h.server());
        byte[] stream = new byte[8 << 20];
        new Random(1).nextBytes(stream);
        int replies = 2000;
        var expectedReplies = new ByteArrayOutputStream();
        for (int i = 0; i < replies; i++) {
            expectedReplies.write(String.format("reply %05d;", i).getBytes(StandardCharsets.US_ASCII));
        }

        Future<byte[]> received = peer.submit(() -> readToEnd(destination));
        Future<?> replying = peer.submit((Callable<Void>) () -> {
            for (int i = 0; i < replies; i++) {
                destination.write(bytes(String.format("reply %05d;", i)));
            }
            return null;
        });
        Future<byte[]> repliesRead = peer.submit(() -> readExactly(source, expectedReplies.size()));

        var random = new Random(2);
        int at = 0;
        while (at < stream.length) {
            int n = Math.min(stream.length - at, 1 + random.nextInt(256 * 1024));
            ByteBuffer chunk = switch (random.nextInt(4)) {
                case 0 -> ByteBuffer.wrap(stream, at, n);
                case 1 -> ByteBuffer.allocateDirect(n).put(stream, at, n).flip();
                case 2 -> ByteBuffer.wrap(stream, at, n).asReadOnlyBuffer();
                default -> null;
            };
            if (chunk != null) {
                assertEquals(n, source.write(chunk));
            } else {
                int half = n / 2;
                var parts = new ByteBuffer[] {ByteBuffer.wrap(stream, at, half), ByteBuffer.allocate(0),
                        ByteBuffer.wrap(stream, at + half, n - half)};
                assertEquals(n, source.write(parts, 0, parts.length));
            }
            at += n;
        }
        source.closeOutbound();

        assertArrayEquals(stream, await(received));
        await(replying);
        assertArrayEquals(expectedReplies.toByteArray(), await(repliesRead));
    }

    @Test
    void closingOneDirectionLeavesTheOtherOpen() throws Exception {
        Path keys = keysDir("k", "qemu:" + key + "\n");
        var h = handshake(client(keys, null), server(keys));
        TlsSession source = await(h.client());
        TlsSession destination = await(h.server());

        source.write(bytes("the stream"));
        source.closeOutbound();
        assertEquals("the stream", new String(readToEnd(destination), StandardCharsets.US_ASCII));
        assertEquals(-1, destination.read(ByteBuffer.allocate(1)));

        destination.write(bytes("an answer after the end"));
        destination.closeOutbound();
        assertEquals("an answer after the end", new String(readToEnd(source), StandardCharsets.US_ASCII));

        var e = assertThrows(TlsException.class, () -> source.write(bytes("more")));
        assertEquals("Cannot write to TLS channel: its output was closed (close_notify sent)", e.getMessage());
    }

    /** Records split by the channel into a few bytes per read and write still make the same session. */
    @Test
    void recordsThatArriveAFewBytesAtATimeStillMakeTheSession() throws Exception {
        Path keys = keysDir("k", "qemu:" + key + "\n");
        PskCredentials c = client(keys, null);
        PskCredentials s = server(keys);
        Future<TlsSession> server = peer.submit(() -> handshaken(s.server(new Trickle(acceptRaw()), null)));
        TlsSession client = c.client(new Trickle(connectRaw()), null);
        client.handshake();
        TlsSession destination = await(server);
        byte[] data = new byte[100_000];
        new Random(3).nextBytes(data);
        Future<byte[]> received = peer.submit(() -> readToEnd(destination));
        client.write(ByteBuffer.wrap(data));
        client.closeOutbound();
        assertArrayEquals(data, await(received));
    }

    @Test
    void aWrongKeyIsRefusedOnBothEndsWithWhatIsWrong() throws Exception {
        Path clientKeys = keysDir("c", "qemu:" + randomKey() + "\n");
        Path serverKeys = keysDir("s", "qemu:" + key + "\n");
        var h = handshake(client(clientKeys, null), server(serverKeys));
        assertEquals("TLS handshake failed: the server has another key for username qemu, or no such username"
                + " (the server sent alert decrypt_error(51))", failure(h.client()));
        assertEquals("TLS handshake failed: the client's key for username qemu is not the one in "
                + serverKeys.resolve("keys.psk") + " (alert decrypt_error(51); Invalid PSK binder)",
                failure(h.server()));
    }

    /** As gnutls, the server answers an unknown username with a random key: only its own message names the cause. */
    @Test
    void anUnknownUsernameIsRefusedAndNamedOnTheServer() throws Exception {
        Path clientKeys = keysDir("c", "bob:" + key + "\n");
        Path serverKeys = keysDir("s", "qemu:" + key + "\n");
        var h = handshake(client(clientKeys, "bob"), server(serverKeys));
        assertEquals("TLS handshake failed: the server has another key for username bob, or no such username"
                + " (the server sent alert decrypt_error(51))", failure(h.client()));
        assertEquals("TLS handshake failed: Username bob not found in PSK file " + serverKeys.resolve("keys.psk")
                + " (alert decrypt_error(51); Invalid PSK binder)", failure(h.server()));
    }

    @Test
    void theServerReadsKeysPskAnewForEachClient() throws Exception {
        Path serverKeys = keysDir("s", "qemu:" + key + "\n");
        PskCredentials s = server(serverKeys);
        String bobsKey = randomKey();
        Files.writeString(serverKeys.resolve("keys.psk"), "qemu:" + key + "\nbob:" + bobsKey + "\n");
        var h = handshake(client(keysDir("c", "bob:" + bobsKey + "\n"), "bob"), s);
        await(h.client());
        await(h.server());

        Files.delete(serverKeys.resolve("keys.psk"));
        var gone = handshake(client(keysDir("c2", "qemu:" + key + "\n"), null), s);
        Path file = serverKeys.resolve("keys.psk");
        assertEquals("TLS handshake failed: Cannot read PSK file " + file + ": Failed to open file “" + file
                + "”: No such file or directory", failure(gone.server()));
        assertTrue(failure(gone.client()).startsWith("TLS handshake failed: the server sent alert internal_error(80)"));
    }

    @Test
    void aMigrationStreamInsteadOfAClientHelloIsRefused() throws Exception {
        PskCredentials s = server(keysDir("k", "qemu:" + key + "\n"));
        Future<TlsSession> server = serverHandshake(s);
        MigrationChannel plain = connectRaw();
        plain.write(ByteBuffer.wrap(new byte[] {'Q', 'E', 'V', 'M', 0, 0, 0, 3, 7, 0, 0, 0, 4, 'n', 'o', 'n', 'e'}));
        assertEquals("TLS handshake failed: the peer does not speak TLS: its first bytes are 51 45 56 4d 00"
                + " (a migration without TLS?)", failure(server));
    }

    @Test
    void garbageThatLooksLikeARecordHeaderIsRefused() throws Exception {
        PskCredentials s = server(keysDir("k", "qemu:" + key + "\n"));
        Future<TlsSession> server = serverHandshake(s);
        MigrationChannel plain = connectRaw();
        byte[] garbage = new byte[300];
        ThreadLocalRandom.current().nextBytes(garbage);
        garbage[0] = 22; // handshake
        garbage[1] = 3;
        garbage[2] = 1;
        garbage[3] = 0;
        garbage[4] = (byte) 200;
        plain.write(ByteBuffer.wrap(garbage));
        plain.shutdownOutput();
        assertTrue(failure(server).startsWith("TLS handshake failed: alert "), failure(server));
    }

    @Test
    void aServerWithoutTlsIsRefused() throws Exception {
        PskCredentials c = client(keysDir("k", "qemu:" + key + "\n"), null);
        // a destination without TLS reads the ClientHello as a broken stream and hangs up
        Future<?> plainDestination = peer.submit((Callable<Void>) () -> {
            MigrationChannel in = acceptRaw();
            in.read(ByteBuffer.allocate(100));
            in.close();
            return null;
        });
        TlsSession session = c.client(connectRaw(), null);
        String message = assertThrows(TlsException.class, session::handshake).getMessage();
        // a close with the ClientHello half read is a reset on some kernels
        assertTrue(message.startsWith("TLS handshake failed: the server closed the connection (" + uri), message);
        assertTrue(message.endsWith(" without answering: the server has another key for username qemu, or no such"
                + " username (QEMU hangs up without an alert), or it listens without TLS"), message);
        await(plainDestination);
    }

    /** BouncyCastle's own PSK peers speak TLS 1.2 only: what a gnutls with TLS 1.3 disabled gets too. */
    @Test
    void aPeerWithoutTls13GetsTls12WithAnEphemeralPskSuite() throws Exception {
        Path keys = keysDir("k", "qemu:" + key + "\n");
        TlsCrypto crypto = new JcaTlsCryptoProvider().create(new SecureRandom());
        byte[] identity = "qemu".getBytes(StandardCharsets.US_ASCII);
        byte[] psk = HexFormat.of().parseHex(key);

        PskCredentials s = server(keys);
        Future<TlsSession> server = serverHandshake(s);
        MigrationChannel raw = connectRaw();
        var tls12Client = new TlsClientProtocol(Channels.newInputStream(raw), Channels.newOutputStream(raw));
        tls12Client.connect(new PSKTlsClient(crypto, new BasicTlsPSKIdentity(identity, psk)));
        TlsSession destination = await(server);
        assertTrue(destination.describe().matches(TLS12_EPHEMERAL_PSK), destination.describe());
        tls12Client.getOutputStream().write("over TLS 1.2".getBytes(StandardCharsets.US_ASCII));
        assertEquals("over TLS 1.2", new String(readExactly(destination, 12), StandardCharsets.US_ASCII));

        PskCredentials c = client(keys, null);
        Future<TlsSession> client = clientHandshake(c, null);
        MigrationChannel accepted = acceptRaw();
        var tls12Server = new TlsServerProtocol(Channels.newInputStream(accepted), Channels.newOutputStream(accepted));
        tls12Server.accept(new PSKTlsServer(crypto, new TlsPSKIdentityManager() {
            @Override
            public byte[] getHint() {
                return null;
            }

            @Override
            public byte[] getPSK(byte[] id) {
                return psk.clone();
            }
        }));
        TlsSession source = await(client);
        assertTrue(source.describe().matches(TLS12_EPHEMERAL_PSK), source.describe());
        source.write(bytes("back over TLS 1.2"));
        byte[] back = tls12Server.getInputStream().readNBytes(17);
        assertEquals("back over TLS 1.2", new String(back, StandardCharsets.US_ASCII));
    }

    /** A raw channel that moves at most a few bytes per read and per write. */
    private static final class Trickle implements MigrationChannel {
        private final MigrationChannel raw;
        private final Random random = new Random(4);

        Trickle(MigrationChannel raw) {
            this.raw = raw;
        }

        private ByteBuffer few(ByteBuffer b) {
            return b.slice(b.position(), Math.min(b.remaining(), 1 + random.nextInt(7)));
        }

        @Override
        public int read(ByteBuffer dst) throws IOException {
            int n = raw.read(few(dst));
            if (n > 0) {
                dst.position(dst.position() + n);
            }
            return n;
        }

        @Override
        public int write(ByteBuffer src) throws IOException {
            int n = raw.write(few(src));
            src.position(src.position() + n);
            return n;
        }

        @Override
        public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
            for (int i = offset; i < offset + length; i++) {
                if (srcs[i].hasRemaining()) {
                    return write(srcs[i]);
                }
            }
            return 0;
        }

        @Override
        public void shutdownOutput() throws IOException {
            raw.shutdownOutput();
        }

        @Override
        public boolean isBidirectional() {
            return raw.isBidirectional();
        }

        @Override
        public String describe() {
            return raw.describe() + " a few bytes at a time";
        }

        @Override
        public boolean isOpen() {
            return raw.isOpen();
        }

        @Override
        public void close() throws IOException {
            raw.close();
        }
    }
}
