package dev.livemig.qmp;

import dev.livemig.json.Json;
import dev.livemig.testing.Await;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.*;

/** The client's addresses: unix and tcp reach a server; any other form, or nothing listening, is one clear error. */
class QmpClientTest {
    private static final Duration WAIT = Await.DEADLINE;

    @AutoClose
    private final ServedMachine served;
    private final Path dir;

    QmpClientTest(@TempDir Path dir) throws Exception {
        this.dir = dir;
        this.served = ServedMachine.start(1 << 20, dir.resolve("qmp.sock"));
    }

    private static String status(QmpClient c) throws IOException {
        return ((Json.Obj) c.execute("query-status")).string("status");
    }

    @Test
    void connectsOverTcpAndOverUnixByAddress() throws Exception {
        try (var tcp = QmpClient.connect("tcp:127.0.0.1:" + served.tcp().getPort(), WAIT);
             var unix = QmpClient.connect("unix:" + dir.resolve("qmp.sock"), WAIT)) {
            assertTrue(tcp.greeting().has("QMP"));
            assertEquals("running", status(tcp));
            assertEquals("running", status(unix));
        }
    }

    @Test
    void addressesUseTheMigrationUriSyntaxWithIpv6InBrackets() {
        assertEquals(new InetSocketAddress("::1", 4444),
                QmpClient.socketAddress("tcp:[::1]:4444"));
        assertEquals(new InetSocketAddress("127.0.0.1", 4444), QmpClient.socketAddress("tcp:127.0.0.1:4444"));
        assertEquals(UnixDomainSocketAddress.of("/run/qmp.sock"), QmpClient.socketAddress("unix:/run/qmp.sock"));
    }

    @Test
    void otherFormsOfAddressAreRefusedWithTheFormsThatWork() {
        for (String bad : new String[] {"/tmp/qmp.sock", "exec:cat", "file:/tmp/x", "rdma:host:1", "tcp:127.0.0.1:0"}) {
            var e = assertThrows(IllegalArgumentException.class, () -> QmpClient.connect(bad, WAIT), bad);
            assertEquals("QMP address must be unix:PATH or tcp:HOST:PORT, not '" + bad + "'", e.getMessage());
        }
        var noPort = assertThrows(IllegalArgumentException.class, () -> QmpClient.connect("tcp:localhost", WAIT));
        assertEquals("bad QMP address: invalid tcp: URI (expected tcp:HOST:PORT): tcp:localhost", noPort.getMessage());
        var badPort = assertThrows(IllegalArgumentException.class, () -> QmpClient.connect("tcp:[::1]:http", WAIT));
        assertEquals("bad QMP address: invalid port in tcp:[::1]:http: http", badPort.getMessage());
    }

    @Test
    void nothingListeningFailsAtOnceNamingTheAddress() throws Exception {
        int closedPort;
        try (var s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closedPort = s.getLocalPort();
        }
        String tcp = "tcp:127.0.0.1:" + closedPort;
        String unix = "unix:" + dir.resolve("nobody.sock");
        assertEquals("cannot connect to QMP at " + tcp + ": Connection refused", failsWithoutRetrying(tcp).getMessage());
        assertEquals("cannot connect to QMP at " + unix + ": No such file or directory", failsWithoutRetrying(unix).getMessage());
    }

    /**
     * Connects with a timeout of a minute and expects the failure before it ran out. This is no claim about
     * speed: a refused connect takes microseconds even on a busy machine, while a client that retried until
     * its timeout would take the whole minute.
     */
    private static IOException failsWithoutRetrying(String address) {
        Duration patience = Duration.ofMinutes(1);
        long start = System.nanoTime();
        var e = assertThrows(IOException.class, () -> QmpClient.connect(address, patience));
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertTrue(took.compareTo(patience) < 0, "one attempt, not retried until the timeout: took " + took);
        return e;
    }
}
