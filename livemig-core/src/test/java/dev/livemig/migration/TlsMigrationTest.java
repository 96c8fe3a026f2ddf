package dev.livemig.migration;

import dev.livemig.json.Json;
import dev.livemig.machine.RunState;
import dev.livemig.testing.Await;
import dev.livemig.transport.HandshakeGate;
import dev.livemig.transport.MigrationUri;
import dev.livemig.transport.tls.TestPki;
import dev.livemig.transport.tls.UserObjects;
import dev.livemig.wire.MigrationException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Migrations whose every channel runs TLS (tls-creds naming x509 or PSK credentials), livemig to livemig: a guest
 * writing throughout arrives whole over one channel, multifd and unix; and every way a peer can be wrong is refused
 * before a byte of the stream is loaded — the source keeps running, the destination drops the connection and still
 * takes the right source that comes next.
 */
class TlsMigrationTest {
    private static final HandshakeGate SHORT = new HandshakeGate(Duration.ofMillis(500));
    private static final String PSK_KEY = "9d5a5b1e0a1f5c8e2b7d4c3a6f8e1d2c";

    @TempDir
    static Path pkiRoot;
    static TestPki pki;

    @TempDir
    Path dir;

    private final LiveGuests guests = new LiveGuests(8L << 20);
    private final LiveGuests bigGuests = new LiveGuests(16L << 20);
    private MigrationController destination;

    @BeforeAll
    static void makePki() {
        pki = TestPki.create(pkiRoot);
    }

    @AfterEach
    void release() throws Exception {
        if (destination != null) {
            destination.close();
        }
        guests.close();
        bigGuests.close();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"tcp", "tcp multifd", "unix", "unix multifd"})
    void aWritingGuestArrivesWholeOverX509(String how) throws Exception {
        var config = config(how.endsWith("multifd")).withParameter("tls-creds", "tls0");
        String uri = how.startsWith("unix") ? "unix:" + dir.resolve("mig.sock") : "tcp:127.0.0.1:0";
        // a unix socket names no host: the server certificate is checked against tls-hostname
        var sourceConfig = how.startsWith("unix") ? config.withParameter("tls-hostname", "localhost") : config;
        var source = guests.guest(2_000);
        var dest = guests.guest(0);
        source.start();
        MigrationUri at = listen(dest, config, x509(pki.serverDir(), "server"), uri);
        Migration m = migrate(source, sourceConfig, x509(pki.clientDir(), "client"), at);
        assertCompleted(m);
        dest.machine.pause();
        LiveGuests.assertSameGuest(source, dest);
    }

    @Test
    void aWritingGuestArrivesWholeOverPsk() throws Exception {
        Path keys = pskDir("qemu:" + PSK_KEY);
        var config = config(true).withParameter("tls-creds", "tls0");
        var source = guests.guest(2_000);
        var dest = guests.guest(0);
        source.start();
        MigrationUri at = listen(dest, config, psk(keys, "server", null), "tcp:127.0.0.1:0");
        assertCompleted(migrate(source, config, psk(keys, "client", null), at));
        dest.machine.pause();
        LiveGuests.assertSameGuest(source, dest);
    }

    /**
     * Postcopy with its preempt channel, recorded (a livemig destination that runs a guest takes no postcopy over TLS:
     * its page server is another process): the preempt channel's handshake runs on both ends like the main one's.
     */
    @Test
    void aPostcopyMigrationRunsItsPreemptChannelOverTlsToo() throws Exception {
        var config = new MigrationConfig(java.util.EnumSet.of(MigrationCapability.POSTCOPY_RAM, MigrationCapability.POSTCOPY_PREEMPT),
                300, 16L << 20).withParameter("tls-creds", "tls0"); // slow enough for the switch to come early
        var source = bigGuests.guest(20_000);
        source.start();
        source.awaitWrites(1_000);
        var recorder = new StreamRecorder(config);
        var serverTls = dev.livemig.transport.tls.MigrationTls.resolve(x509(pki.serverDir(), "server"),
                dev.livemig.transport.tls.TlsEndpoint.SERVER, "tls0", "", "");
        MigrationUri at = recorder.listen(MigrationUri.parse("tcp:127.0.0.1:0"), SHORT.with(serverTls));
        Path file = dir.resolve("postcopy.snap");
        var recorded = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return recorder.record(file);
            } catch (Exception e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
        var statuses = new java.util.concurrent.CopyOnWriteArrayList<MigrationStatus>();
        try (var controller = MigrationController.builder(source.machine).config(config.withCapability(MigrationCapability.EVENTS))
                .objects(x509(pki.clientDir(), "client")).events(e -> {
                    if (e instanceof MigrationEvent.StatusChanged c) {
                        statuses.add(c.status());
                    }
                }).build()) {
            Migration m = controller.migrate(at);
            LiveGuests.awaitTransferred(m, 1 << 20);
            controller.startPostcopy();
            assertEquals(MigrationStatus.COMPLETED, m.awaitFinished(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS),
                    () -> m.info().toJson().toString());
            assertTrue(statuses.contains(MigrationStatus.POSTCOPY_ACTIVE), "it switched to postcopy: " + statuses);
        }
        recorded.get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS);
        var loaded = bigGuests.guest(0);
        dev.livemig.savevm.Snapshots.load(loaded.machine, file);
        LiveGuests.assertSameGuest(source, loaded);
    }

    @Test
    void aServerCertificateForAnotherHostIsRefusedAndTheNextRightSourceIsTaken() throws Exception {
        refusedThenTaken(x509(pki.serverDir(), "server"), x509(pki.clientDir(), "client"), "tls-hostname=other.example",
                "Certificate does not match the hostname other.example");
    }

    @Test
    void aServerCertificateFromAnotherCaIsRefused() throws Exception {
        refusedByAWrongDestination(x509(pki.serverDir(TestPki.Flaw.OTHER_CA), "server"), "The certificate hasn't got a known issuer");
    }

    /** gnutls' verification, which QEMU reports first, counts an expired certificate as untrusted. */
    @Test
    void anExpiredServerCertificateIsRefused() throws Exception {
        refusedByAWrongDestination(x509Unchecked(pki.serverDir(TestPki.Flaw.EXPIRED), "server"), "The certificate is not trusted");
    }

    @Test
    void aServerCertificateNotYetValidIsRefused() throws Exception {
        refusedByAWrongDestination(x509Unchecked(pki.serverDir(TestPki.Flaw.NOT_YET_VALID), "server"), "The certificate is not trusted");
    }

    @Test
    void aClientWithoutACertificateIsRefusedWhenTheServerVerifiesItsPeer() throws Exception {
        refusedThenTaken(x509(pki.serverDir(), "server"), x509(pki.clientDirWithoutCert(), "client"), null, null);
    }

    @Test
    void aClientWhoseNameTheAuthzDoesNotAllowIsRefused() throws Exception {
        var server = x509(pki.serverDir(), "server");
        server.add("authz-simple", "auth0", Json.object().put("identity", "CN=someone-else,O=livemig,C=GB").build());
        var config = config(false).withParameter("tls-creds", "tls0");
        var source = guests.guest(500);
        var dest = guests.guest(0);
        source.start();
        MigrationUri at = listen(dest, config.withParameter("tls-authz", "auth0"), server, "tcp:127.0.0.1:0");
        assertRefused(migrate(source, config, x509(pki.clientDir(), "client"), at), source, dest, null);
    }

    @Test
    void aClientTheAuthzAllowsIsTaken() throws Exception {
        var server = x509(pki.serverDir(), "server");
        server.add("authz-simple", "auth0", Json.object().put("identity", pki.clientDn()).build());
        var config = config(false).withParameter("tls-creds", "tls0").withParameter("tls-authz", "auth0");
        var source = guests.guest(500);
        var dest = guests.guest(0);
        source.start();
        MigrationUri at = listen(dest, config, server, "tcp:127.0.0.1:0");
        assertCompleted(migrate(source, config.withParameter("tls-authz", ""), x509(pki.clientDir(), "client"), at));
    }

    @Test
    void aWrongPskKeyIsRefused() throws Exception {
        refusedThenTaken(psk(pskDir("qemu:" + PSK_KEY), "server", null),
                psk(pskDir("qemu:" + PSK_KEY.replace('9', '8')), "client", null), null, null);
    }

    @Test
    void anUnknownPskUsernameIsRefused() throws Exception {
        Path keys = pskDir("qemu:" + PSK_KEY, "stranger:" + PSK_KEY.replace('9', '7'));
        refusedThenTaken(psk(pskDir("qemu:" + PSK_KEY), "server", null), psk(keys, "client", "stranger"), null, null);
    }

    @Test
    void aPlaintextSourceIsRefusedByATlsDestination() throws Exception {
        refusedThenTaken(x509(pki.serverDir(), "server"), new UserObjects(), null, null, null, false);
    }

    @Test
    void aTlsSourceFailsAgainstAPlaintextDestinationAndKeepsRunning() throws Exception {
        var source = guests.guest(500);
        var dest = guests.guest(0);
        source.start();
        MigrationUri at = listen(dest, config(false), new UserObjects(), "tcp:127.0.0.1:0");
        Migration m = migrate(source, config(false).withParameter("tls-creds", "tls0"), x509(pki.clientDir(), "client"), at);
        assertEquals(MigrationStatus.FAILED, m.awaitFinished(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS));
        assertEquals(RunState.RUNNING, source.machine.runState(), "the source keeps running");
    }

    @Test
    void garbageInsteadOfAClientHelloIsDroppedAndTheRightSourceIsTaken() throws Exception {
        byte[] garbage = new byte[512];
        new java.util.Random(7).nextBytes(garbage);
        squattedThenTaken(garbage);
    }

    @Test
    void aPeerThatStallsMidHandshakeIsDroppedWithinTheTimeout() throws Exception {
        // a TLS handshake record header announcing 512 bytes, and then nothing
        squattedThenTaken(new byte[] {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, (byte) 0xfc, 0x03, 0x03});
    }

    @Test
    void zeroCopySendIsRefusedWithTls() throws Exception {
        var c = new MigrationConfig(Set.of(MigrationCapability.MULTIFD, MigrationCapability.ZERO_COPY_SEND), 300, 1L << 30);
        var e = assertThrows(MigrationConfigException.class, () -> c.withParameter("tls-creds", "tls0"));
        assertEquals("Zero copy only available for non-compressed non-TLS multifd migration", e.getMessage());
    }

    @Test
    void credentialsOfTheWrongEndpointOrNoneAtAllAreNamedAtTheStart() throws Exception {
        var config = config(false).withParameter("tls-creds", "tls0");
        var dest = guests.guest(0);
        var objects = x509(pki.clientDir(), "client");
        var e = assertThrows(MigrationException.class, () -> MigrationController.builder(dest.machine).config(config)
                .objects(objects).destination(MigrationUri.parse("tcp:127.0.0.1:0"), true, SHORT).build().startIncoming());
        assertEquals("Expected TLS credentials for a server endpoint", e.getMessage());
        var source = guests.guest(0);
        try (var c = MigrationController.builder(source.machine).config(config.withParameter("tls-creds", "nothing")).build()) {
            Migration m = c.migrate(MigrationUri.parse("tcp:127.0.0.1:9")); // looked up before connecting: nothing listens there
            assertEquals(MigrationStatus.FAILED, m.awaitFinished(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS));
            assertEquals("No TLS credentials with id 'nothing'", m.info().errorDesc());
        }
    }

    /**
     * A source that {@code sourceObjects} make wrong fails, keeps running, and the destination, which loaded nothing,
     * takes the right source that comes next.
     */
    private void refusedThenTaken(UserObjects destObjects, UserObjects sourceObjects, String sourceParameter, String error)
            throws Exception {
        refusedThenTaken(destObjects, sourceObjects, sourceParameter, error, null, true);
    }

    private void refusedThenTaken(UserObjects destObjects, UserObjects sourceObjects, String sourceParameter, String error,
                                  String destParameter) throws Exception {
        refusedThenTaken(destObjects, sourceObjects, sourceParameter, error, destParameter, true);
    }

    private void refusedThenTaken(UserObjects destObjects, UserObjects sourceObjects, String sourceParameter, String error,
                                  String destParameter, boolean sourceTls) throws Exception {
        var config = config(false).withParameter("tls-creds", "tls0");
        var destConfig = destParameter == null ? config : with(config, destParameter);
        var wrong = guests.guest(500);
        var right = guests.guest(500);
        var dest = guests.guest(0);
        wrong.start();
        right.start();
        MigrationUri at = listen(dest, destConfig, destObjects, "tcp:127.0.0.1:0");
        var wrongConfig = sourceTls ? config : config(false);
        if (sourceParameter != null) {
            wrongConfig = with(wrongConfig, sourceParameter);
        }
        assertRefused(migrate(wrong, wrongConfig, sourceObjects, at), wrong, dest, error);

        Migration taken = migrate(right, config, x509AndPsk(), at);
        assertCompleted(taken);
        dest.machine.pause();
        LiveGuests.assertSameGuest(right, dest);
    }

    /** A right source that a destination with wrong credentials cannot take: refused, and still running. */
    private void refusedByAWrongDestination(UserObjects destObjects, String error) throws Exception {
        var config = config(false).withParameter("tls-creds", "tls0");
        var source = guests.guest(500);
        var dest = guests.guest(0);
        source.start();
        MigrationUri at = listen(dest, config, destObjects, "tcp:127.0.0.1:0");
        assertRefused(migrate(source, config, x509(pki.clientDir(), "client"), at), source, dest, error);
    }

    /**
     * {@code m} failed (with {@code error}, if not null), its guest runs on, and the destination, which was given
     * nothing of the stream, still waits for a migration.
     */
    private void assertRefused(Migration m, LiveGuest source, LiveGuest dest, String error) throws Exception {
        assertEquals(MigrationStatus.FAILED, m.awaitFinished(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS));
        if (error != null) {
            assertEquals(error, m.info().errorDesc());
        }
        assertEquals(RunState.RUNNING, source.machine.runState(), "the refused source keeps running");
        var incoming = destination.migrations().incoming().orElseThrow();
        Thread.sleep(100); // a destination that took the connection would fail its load now
        assertTrue(Set.of(MigrationStatus.NONE, MigrationStatus.SETUP).contains(incoming.status()),
                "the destination loaded nothing of it: " + incoming.status() + " " + incoming.error());
        assertEquals(RunState.INMIGRATE, dest.machine.runState());
    }

    /** A connection that sends {@code bytes} and then nothing holds the TLS destination no longer than its timeout. */
    private void squattedThenTaken(byte[] bytes) throws Exception {
        var config = config(false).withParameter("tls-creds", "tls0");
        var source = guests.guest(500);
        var dest = guests.guest(0);
        source.start();
        var at = (MigrationUri.Tcp) listen(dest, config, x509(pki.serverDir(), "server"), "tcp:127.0.0.1:0");
        try (SocketChannel squatter = SocketChannel.open(new InetSocketAddress(at.host(), at.port()))) {
            squatter.write(ByteBuffer.wrap(bytes));
            Migration m = migrate(source, config, x509(pki.clientDir(), "client"), at);
            assertCompleted(m);
            ByteBuffer rest = ByteBuffer.allocate(4096);
            try {
                while (squatter.read(rest.clear()) >= 0) {
                    // an alert, maybe, then the end: the squatter was dropped
                }
            } catch (java.net.SocketException reset) {
                // dropped with what it sent still unread: a reset is the end too
            }
        }
        dest.machine.pause();
        LiveGuests.assertSameGuest(source, dest);
    }

    private MigrationUri listen(LiveGuest dest, MigrationConfig config, UserObjects objects, String uri) throws Exception {
        destination = MigrationController.builder(dest.machine).config(config).objects(objects)
                .destination(MigrationUri.parse(uri), true, SHORT).build();
        destination.startIncoming();
        return destination.migrations().incoming().orElseThrow().address();
    }

    private Migration migrate(LiveGuest source, MigrationConfig config, UserObjects objects, MigrationUri at) throws Exception {
        var c = MigrationController.builder(source.machine).config(config).objects(objects).build();
        Migration m = c.migrate(at);
        m.completion().whenComplete((info, e) -> c.close());
        return m;
    }

    private void assertCompleted(Migration m) throws Exception {
        assertEquals(MigrationStatus.COMPLETED, m.awaitFinished(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS),
                () -> m.info().toJson().toString());
        var incoming = destination.migrations().incoming().orElseThrow();
        assertEquals(MigrationStatus.COMPLETED, incoming.awaitFinished(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS),
                incoming::error);
    }

    private static MigrationConfig config(boolean multifd) throws Exception {
        var c = new MigrationConfig(multifd ? Set.of(MigrationCapability.MULTIFD) : Set.of(), 300, 1L << 30);
        return multifd ? c.withParameter("multifd-channels", "2") : c;
    }

    private static MigrationConfig with(MigrationConfig c, String nameValue) throws Exception {
        int eq = nameValue.indexOf('=');
        return c.withParameter(nameValue.substring(0, eq), nameValue.substring(eq + 1));
    }

    private static UserObjects x509(Path dir, String endpoint) throws Exception {
        var objects = new UserObjects();
        objects.add("tls-creds-x509", "tls0", Json.object().put("dir", dir.toString()).put("endpoint", endpoint).build());
        return objects;
    }

    /** Credentials whose own certificate QEMU's creation checks would refuse: for a peer that must refuse it. */
    private static UserObjects x509Unchecked(Path dir, String endpoint) throws Exception {
        var objects = new UserObjects();
        objects.add("tls-creds-x509", "tls0", Json.object().put("dir", dir.toString()).put("endpoint", endpoint)
                .put("sanity-check", false).build());
        return objects;
    }

    /** The right source's credentials for whichever the destination has: x509 and PSK tests share the flow. */
    private UserObjects x509AndPsk() throws Exception {
        var d = destination.objects().get("tls0").orElseThrow();
        if (d.qomType().equals("tls-creds-psk")) {
            return psk(pskDir("qemu:" + PSK_KEY), "client", null);
        }
        return x509(pki.clientDir(), "client");
    }

    private UserObjects psk(Path keys, String endpoint, String username) throws Exception {
        var objects = new UserObjects();
        var props = Json.object().put("dir", keys.toString()).put("endpoint", endpoint);
        if (username != null) {
            props.put("username", username);
        }
        objects.add("tls-creds-psk", "tls0", props.build());
        return objects;
    }

    private Path pskDir(String... lines) throws Exception {
        Path d = Files.createTempDirectory(dir, "psk");
        Files.writeString(d.resolve("keys.psk"), String.join("\n", lines) + "\n");
        return d;
    }
}
