package dev.livemig.transport.tls;

import dev.livemig.json.Json;
import dev.livemig.transport.MigrationChannel;
import dev.livemig.transport.MigrationUri;
import dev.livemig.transport.Transports;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.*;

class MigrationTlsTest {
    @TempDir
    Path dir;

    @Test
    void aServerThatNeverAnswersTheClientHelloIsGivenUpOnWithinTheTimeout() throws Exception {
        var objects = new UserObjects();
        objects.add("tls-creds-x509", "tls0", Json.object().put("dir", TestPki.create(dir).clientDir().toString())
                .put("endpoint", "client").build());
        var tls = MigrationTls.resolve(objects, TlsEndpoint.CLIENT, "tls0", "", "");
        try (ServerSocketChannel silent = ServerSocketChannel.open().bind(new java.net.InetSocketAddress("127.0.0.1", 0))) {
            var uri = MigrationUri.parse("tcp:127.0.0.1:" + ((java.net.InetSocketAddress) silent.getLocalAddress()).getPort());
            MigrationChannel raw = Transports.connect(uri);
            try (SocketChannel accepted = silent.accept()) {
                long start = System.nanoTime();
                var e = assertThrows(TlsException.class, () -> tls.connect(raw, uri, Duration.ofMillis(300)));
                assertTrue(e.getMessage().startsWith("TLS handshake with " + uri) && e.getMessage().endsWith("did not complete within 300 ms"),
                        e.getMessage());
                assertFalse(raw.isOpen(), "the stalled channel is closed");
                assertTrue(System.nanoTime() - start < Duration.ofSeconds(10).toNanos(), "bounded by the timeout, not by the peer");
            }
        }
    }

    @Test
    void theServerCertificateIsCheckedAgainstTlsHostnameOrTheTcpHostAndNothingElse() throws Exception {
        java.nio.file.Files.writeString(dir.resolve("keys.psk"), "qemu:00112233445566778899aabbccddeeff\n");
        var objects = new UserObjects();
        objects.add("tls-creds-psk", "tls0", Json.object().put("dir", dir.toString()).put("endpoint", "server").build());
        var credentials = objects.credentials("tls0", TlsEndpoint.SERVER);
        assertEquals("db.example", new MigrationTls(credentials, "db.example", null).hostnameFor(MigrationUri.parse("tcp:10.0.0.1:4")));
        assertEquals("10.0.0.1", new MigrationTls(credentials, "", null).hostnameFor(MigrationUri.parse("tcp:10.0.0.1:4")));
        assertNull(new MigrationTls(credentials, "", null).hostnameFor(MigrationUri.parse("unix:/run/m.sock")),
                "a unix socket names no host: x509 with verify-peer then needs tls-hostname");
    }

    @Test
    void theCredentialsAParameterNamesMustExistBeCredentialsAndServeThisEnd() throws Exception {
        var objects = new UserObjects();
        objects.add("authz-simple", "auth0", Json.object().put("identity", "CN=a").build());
        java.nio.file.Files.writeString(dir.resolve("keys.psk"), "qemu:00112233445566778899aabbccddeeff\n");
        objects.add("tls-creds-psk", "tls0", Json.object().put("dir", dir.toString()).put("endpoint", "server").build());
        assertEquals("No TLS credentials with id 'nothing'", assertThrows(TlsException.class,
                () -> MigrationTls.resolve(objects, TlsEndpoint.SERVER, "nothing", "", "")).getMessage());
        assertEquals("Object with id 'auth0' is not TLS credentials", assertThrows(TlsException.class,
                () -> MigrationTls.resolve(objects, TlsEndpoint.SERVER, "auth0", "", "")).getMessage());
        assertEquals("Expected TLS credentials for a client endpoint", assertThrows(TlsException.class,
                () -> MigrationTls.resolve(objects, TlsEndpoint.CLIENT, "tls0", "", "")).getMessage());
        assertEquals("Cannot find QAuthZ object ID nobody", assertThrows(TlsException.class,
                () -> MigrationTls.resolve(objects, TlsEndpoint.SERVER, "tls0", "", "nobody")).getMessage());
        assertEquals("Object 'tls0' is not a QAuthZ subclass", assertThrows(TlsException.class,
                () -> MigrationTls.resolve(objects, TlsEndpoint.SERVER, "tls0", "", "tls0")).getMessage());
        assertEquals(objects.get("auth0").orElseThrow(), MigrationTls.resolve(objects, TlsEndpoint.SERVER, "tls0", "", "auth0").authz());
    }
}
