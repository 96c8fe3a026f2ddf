package dev.livemig.transport.tls;

import dev.livemig.json.Json;
import dev.livemig.testing.Await;
import dev.livemig.transport.IncomingListener;
import dev.livemig.transport.MigrationChannel;
import dev.livemig.transport.MigrationUri;
import dev.livemig.transport.Transports;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * TLS sessions of tls-creds-x509 over a unix socket: a client and a server that trust each other carry data both ways
 * at once; a peer QEMU would refuse is refused with QEMU's text, on the side whose check refuses it, and verify-peer
 * off refuses nothing.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class X509SessionTest {
    @TempDir
    static Path pkiRoot;
    static TestPki pki;

    @TempDir
    Path dir;

    private final ExecutorService peers = Executors.newVirtualThreadPerTaskExecutor();
    private final List<MigrationChannel> channels = new ArrayList<>();
    private IncomingListener listener;
    private MigrationUri uri;

    @BeforeAll
    static void makePki() {
        pki = TestPki.create(pkiRoot);
    }

    @BeforeEach
    void listen() throws Exception {
        uri = MigrationUri.parse("unix:" + dir.resolve("s"));
        listener = Transports.listen(uri);
    }

    @AfterEach
    void close() {
        synchronized (channels) {
            channels.forEach(MigrationChannel::closeQuietly);
        }
        listener.close();
        peers.shutdownNow();
    }

    /** An authz that allows the identities {@code allowed} accepts, and remembers the last one asked. */
    private static final class TestAuthz implements TlsAuthz {
        private final Predicate<String> allowed;
        volatile String asked;

        TestAuthz(Predicate<String> allowed) {
            this.allowed = allowed;
        }

        @Override
        public boolean isAllowed(String identity) {
            asked = identity;
            return allowed.test(identity);
        }

        @Override
        public String id() {
            return "authz0";
        }

        @Override
        public String qomType() {
            return "authz-simple";
        }
    }

    /** How one side's handshake ended: its session, or the failure's message. */
    private record Side(TlsSession session, String failure) {
    }

    private record Outcome(Side client, Side server) {
    }

    private static X509Credentials credentials(Path d, String endpoint, boolean verifyPeer, boolean sanityCheck)
            throws UserObjectException {
        return X509Credentials.create(endpoint + "0", Json.object().put("dir", d.toString()).put("endpoint", endpoint)
                .put("verify-peer", verifyPeer).put("sanity-check", sanityCheck).build());
    }

    private static X509Credentials server(Path d) throws UserObjectException {
        return credentials(d, "server", true, true);
    }

    private static X509Credentials client(Path d) throws UserObjectException {
        return credentials(d, "client", true, true);
    }

    /** Both handshakes at once: accept() returns only once the client's first bytes (its hello) have come. */
    private Outcome handshake(X509Credentials client, String hostname, X509Credentials server, TlsAuthz authz)
            throws Exception {
        Future<Side> clientSide = peers.submit(() -> side(Transports.connect(uri), raw -> client.client(raw, hostname)));
        Future<Side> serverSide = peers.submit(() -> side(listener.accept(), raw -> server.server(raw, authz)));
        return new Outcome(clientSide.get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS),
                serverSide.get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS));
    }

    @FunctionalInterface
    private interface Opener {
        TlsSession open(MigrationChannel raw) throws TlsException;
    }

    /** A failed side closes its channel, as a migration does: the peer learns of it then. */
    private Side side(MigrationChannel raw, Opener opener) {
        synchronized (channels) {
            channels.add(raw);
        }
        try {
            TlsSession s = opener.open(raw);
            s.handshake();
            return new Side(s, null);
        } catch (IOException e) {
            MigrationChannel.closeQuietly(raw);
            return new Side(null, e.getMessage());
        }
    }

    private static void assertAgreed(Outcome o) {
        assertNull(o.client().failure(), "client");
        assertNull(o.server().failure(), "server");
    }

    @Test
    void aClientAndServerThatTrustEachOtherCarryDataBothWaysAtOnce() throws Exception {
        Outcome o = handshake(client(pki.clientDir()), "localhost", server(pki.serverDir()), null);
        assertAgreed(o);
        assertTrue(o.client().session().describe().startsWith("TLSv1.3 "), o.client().session().describe());
        byte[] up = random(3 << 20, 1);
        byte[] down = random(2 << 20, 2);
        Future<byte[]> clientRead = peers.submit(() -> sendAndReceive(o.client().session(), up));
        Future<byte[]> serverRead = peers.submit(() -> sendAndReceive(o.server().session(), down));
        assertArrayEquals(up, serverRead.get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS));
        assertArrayEquals(down, clientRead.get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS));
    }

    /** Writes {@code bytes} in uneven pieces and ends its side, while reading what the peer sends to its end. */
    private byte[] sendAndReceive(TlsSession session, byte[] bytes) throws Exception {
        Future<?> writer = peers.submit(() -> {
            Random r = new Random(bytes.length);
            for (int at = 0; at < bytes.length; ) {
                int n = Math.min(bytes.length - at, 1 + r.nextInt(100_000));
                session.write(ByteBuffer.wrap(bytes, at, n));
                at += n;
            }
            session.closeOutbound();
            return null;
        });
        var received = new ByteArrayOutputStream();
        ByteBuffer buf = ByteBuffer.allocate(50_000);
        while (session.read(buf.clear()) >= 0) {
            received.write(buf.array(), 0, buf.position());
        }
        writer.get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS);
        return received.toByteArray();
    }

    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void theServerCertificateMayBeMatchedByAddress() throws Exception {
        assertAgreed(handshake(client(pki.clientDir()), "127.0.0.1", server(pki.serverDir()), null));
    }

    @Test
    void aServerCertificateForAnotherHostIsRefusedByTheClient() throws Exception {
        Outcome o = handshake(client(pki.clientDir()), "migration.example.org", server(pki.serverDir()), null);
        assertEquals("Certificate does not match the hostname migration.example.org", o.client().failure());
        Outcome wrong = handshake(client(pki.clientDir()), "localhost",
                server(pki.serverDir(TestPki.Flaw.WRONG_HOSTNAME)), null);
        assertEquals("Certificate does not match the hostname localhost", wrong.client().failure());
    }

    @Test
    void aClientWithoutAHostnameRefusesToVerify() throws Exception {
        Outcome o = handshake(client(pki.clientDir()), null, server(pki.serverDir()), null);
        assertEquals("No hostname for certificate validation", o.client().failure());
    }

    @Test
    void aServerCertificateFromAnotherCaHasNoKnownIssuer() throws Exception {
        Outcome o = handshake(client(pki.clientDir()), "localhost", server(pki.serverDir(TestPki.Flaw.OTHER_CA)), null);
        assertEquals("The certificate hasn't got a known issuer", o.client().failure());
        assertTrue(o.server().failure().startsWith("TLS handshake failed: "), o.server().failure());
    }

    @Test
    void anExpiredOrNotYetValidServerCertificateIsNotTrusted() throws Exception {
        // gnutls' verification flags a certificate outside its validity as invalid too, so QEMU says "not trusted"
        Outcome expired = handshake(client(pki.clientDir()), "localhost",
                credentials(pki.serverDir(TestPki.Flaw.EXPIRED), "server", true, false), null);
        assertEquals("The certificate is not trusted", expired.client().failure());
        Outcome early = handshake(client(pki.clientDir()), "localhost",
                credentials(pki.serverDir(TestPki.Flaw.NOT_YET_VALID), "server", true, false), null);
        assertEquals("The certificate is not trusted", early.client().failure());
    }

    @Test
    void aServerWithVerifyPeerRefusesAClientWithoutACertificate() throws Exception {
        Outcome o = handshake(client(pki.clientDirWithoutCert()), "localhost", server(pki.serverDir()), null);
        assertEquals("TLS handshake failed: (certificate_required) Empty client certificate chain", o.server().failure());
    }

    @Test
    void aClientCertificateFromAnotherCaOrRevokedIsRefusedByTheServer() throws Exception {
        Outcome other = handshake(client(pki.clientDir(TestPki.Flaw.OTHER_CA)), "localhost", server(pki.serverDir()), null);
        assertEquals("The certificate hasn't got a known issuer", other.server().failure());
        Outcome revoked = handshake(client(pki.clientDir(TestPki.Flaw.REVOKED)), "localhost", server(pki.serverDir()), null);
        assertEquals("The certificate has been revoked", revoked.server().failure());
        Outcome expired = handshake(credentials(pki.clientDir(TestPki.Flaw.EXPIRED), "client", true, false), "localhost",
                server(pki.serverDir()), null);
        assertEquals("The certificate is not trusted", expired.server().failure());
    }

    @Test
    void withVerifyPeerOffNothingOfThePeerIsChecked() throws Exception {
        X509Credentials trustingClient = credentials(pki.clientDir(), "client", false, true);
        assertAgreed(handshake(trustingClient, "migration.example.org",
                server(pki.serverDir(TestPki.Flaw.OTHER_CA)), null));
        assertAgreed(handshake(trustingClient, null,
                credentials(pki.serverDir(TestPki.Flaw.EXPIRED), "server", true, false), null));
        X509Credentials trustingServer = credentials(pki.serverDir(), "server", false, true);
        assertAgreed(handshake(client(pki.clientDirWithoutCert()), "localhost", trustingServer, null));
        var authz = new TestAuthz(identity -> false);
        assertAgreed(handshake(client(pki.clientDir(TestPki.Flaw.OTHER_CA)), "localhost", trustingServer, authz));
        assertNull(authz.asked, "QEMU asks no authz without verify-peer");
    }

    @Test
    void anAuthzDecidesOnTheClientsDistinguishedName() throws Exception {
        var allow = new TestAuthz(identity -> identity.equals(TestPki.CLIENT_DN));
        assertAgreed(handshake(client(pki.clientDir()), "localhost", server(pki.serverDir()), allow));
        assertEquals(TestPki.CLIENT_DN, allow.asked);

        var deny = new TestAuthz(identity -> false);
        Outcome o = handshake(client(pki.clientDir()), "localhost", server(pki.serverDir()), deny);
        assertEquals("TLS x509 authz check for CN=livemig-client,O=livemig,C=GB is denied", o.server().failure());
    }

    @Test
    void aDirectoryForBothEndpointsServesEachSide() throws Exception {
        assertAgreed(handshake(client(pki.combinedDir()), "localhost", server(pki.combinedDir()), null));
    }

    @Test
    void rsaKeysWorkToo() throws Exception {
        TestPki rsa = TestPki.builder(dir.resolve("rsa")).keyType(TestPki.KeyType.RSA_2048)
                .keyForm(TestPki.KeyForm.TRADITIONAL).build();
        assertAgreed(handshake(client(rsa.clientDir()), "localhost", server(rsa.serverDir()), null));
    }

    /**
     * A gnutls 3.7 client (QEMU 7.2's) offers its RSA certificate over TLS 1.3 only to a server that names no CAs:
     * it matches the certificate against the request's signature schemes, which from the JDK have RSA only as
     * RSA-PSS. So the request names none, and the client's only certificate is what it sends.
     */
    @Test
    void aServerAsksForAClientCertificateWithoutNamingCas() throws Exception {
        var asked = new java.util.concurrent.atomic.AtomicReference<java.security.Principal[]>();
        var recordingKeys = new javax.net.ssl.X509ExtendedKeyManager() {
            @Override
            public String chooseEngineClientAlias(String[] keyTypes, java.security.Principal[] issuers,
                                                  javax.net.ssl.SSLEngine engine) {
                asked.set(issuers == null ? new java.security.Principal[0] : issuers);
                return null;
            }

            @Override
            public String[] getClientAliases(String keyType, java.security.Principal[] issuers) {
                return null;
            }

            @Override
            public String chooseClientAlias(String[] keyTypes, java.security.Principal[] issuers, java.net.Socket s) {
                return chooseEngineClientAlias(keyTypes, issuers, null);
            }

            @Override
            public String[] getServerAliases(String keyType, java.security.Principal[] issuers) {
                return null;
            }

            @Override
            public String chooseServerAlias(String keyType, java.security.Principal[] issuers, java.net.Socket s) {
                return null;
            }

            @Override
            public java.security.cert.X509Certificate[] getCertificateChain(String alias) {
                return null;
            }

            @Override
            public java.security.PrivateKey getPrivateKey(String alias) {
                return null;
            }
        };
        var anyServer = new X509PeerVerifier(new X509Trust(List.of(), List.of()), false);
        var context = javax.net.ssl.SSLContext.getInstance("TLSv1.3");
        context.init(new javax.net.ssl.KeyManager[] {recordingKeys}, new javax.net.ssl.TrustManager[] {anyServer}, null);
        Future<Side> clientSide = peers.submit(() -> side(Transports.connect(uri), raw -> {
            var engine = context.createSSLEngine();
            engine.setUseClientMode(true);
            return new X509Session(raw, engine, session -> { });
        }));
        X509Credentials lenientServer = credentials(pki.serverDir(), "server", false, true);
        Future<Side> serverSide = peers.submit(() -> side(listener.accept(), raw -> lenientServer.server(raw, null)));
        assertNull(serverSide.get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS).failure());
        assertNull(clientSide.get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS).failure());
        assertEquals(0, asked.get().length, "the CAs named: " + java.util.Arrays.toString(asked.get()));
    }

    @Test
    void aClientRefusedAfterItsHandshakeSeesTheConnectionEnd() throws Exception {
        Outcome o = handshake(client(pki.clientDir()), "localhost", server(pki.serverDir()), new TestAuthz(id -> false));
        assertTrue(o.server().failure().startsWith("TLS x509 authz check for"), o.server().failure());
        if (o.client().failure() == null) {
            // TLS 1.3: the client's handshake ends before the server has judged it; it learns at its next read
            try {
                int n = o.client().session().read(ByteBuffer.allocate(16));
                assertEquals(-1, n);
            } catch (IOException expected) {
                // an alert or a reset: either way no data flows
            }
        } else {
            fail("the client's own checks pass: " + o.client().failure());
        }
    }
}
