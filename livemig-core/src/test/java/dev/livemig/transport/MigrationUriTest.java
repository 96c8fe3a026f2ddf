package dev.livemig.transport;

import dev.livemig.wire.MigrationException;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class MigrationUriTest {
    private static MigrationUri parse(String uri) throws MigrationException {
        return MigrationUri.parse(uri);
    }

    private static void rejected(String uri, String... parts) {
        var e = assertThrows(MigrationException.class, () -> MigrationUri.parse(uri), uri);
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), () -> "\"" + p + "\" missing in: " + e.getMessage());
        }
    }

    @Test
    void tcpTakesIpv4HostnamesAndBracketedIpv6() throws Exception {
        assertEquals(new MigrationUri.Tcp("127.0.0.1", 4444), parse("tcp:127.0.0.1:4444"));
        assertEquals(new MigrationUri.Tcp("localhost", 0), parse("tcp:localhost:0"));
        assertEquals(new MigrationUri.Tcp("dest-1.example.org", 65535), parse("tcp:dest-1.example.org:65535"));
        assertEquals(new MigrationUri.Tcp("::1", 4444), parse("tcp:[::1]:4444"));
        assertEquals(new MigrationUri.Tcp("fe80::1", 80), parse("tcp:[fe80::1]:80"));
        assertEquals("tcp:[::1]:4444", parse("tcp:[::1]:4444").toString());
        assertEquals("tcp:127.0.0.1:4444", parse("tcp:127.0.0.1:4444").toString());
    }

    @Test
    void tcpWithoutHostListensOnEveryAddress() throws Exception {
        assertEquals(new MigrationUri.Tcp("0.0.0.0", 4444), parse("tcp::4444"));
    }

    @Test
    void tcpPortsMustBeNumbersInRange() {
        rejected("tcp:localhost:abc", "invalid port", "abc");
        rejected("tcp:localhost:", "invalid port");
        rejected("tcp:localhost:65536", "port out of range", "65536");
        rejected("tcp:localhost:-1", "port out of range");
        rejected("tcp:[::1]:x", "invalid port");
    }

    @Test
    void tcpWithoutPortIsRejected() {
        rejected("tcp:localhost", "expected tcp:HOST:PORT", "tcp:localhost");
        rejected("tcp:[::1]", "expected tcp:[IPV6]:PORT");
        rejected("tcp:[::1]4444", "expected tcp:[IPV6]:PORT");
        rejected("tcp:[::1", "expected tcp:[IPV6]:PORT");
    }

    @Test
    void unbracketedIpv6IsRejected() {
        rejected("tcp:::1:4444", "IPv6 host must be in brackets", "tcp:::1:4444");
        rejected("tcp:fe80::1:80", "IPv6 host must be in brackets");
    }

    @Test
    void unixTakesAPath() throws Exception {
        assertEquals(new MigrationUri.Unix(Path.of("/run/mig.sock")), parse("unix:/run/mig.sock"));
        assertEquals("unix:/run/mig.sock", parse("unix:/run/mig.sock").toString());
        rejected("unix:", "without a path");
    }

    @Test
    void execKeepsTheWholeCommand() throws Exception {
        assertEquals(new MigrationUri.Exec("cat > /tmp/a:b,offset=1"), parse("exec:cat > /tmp/a:b,offset=1"));
        rejected("exec:", "without a command");
        rejected("exec:   ", "without a command");
    }

    @Test
    void fileTakesDecimalAndHexOffsets() throws Exception {
        assertEquals(new MigrationUri.File(Path.of("/tmp/vm.mig"), 0), parse("file:/tmp/vm.mig"));
        assertEquals(new MigrationUri.File(Path.of("/tmp/vm.mig"), 4096), parse("file:/tmp/vm.mig,offset=4096"));
        assertEquals(new MigrationUri.File(Path.of("/tmp/vm.mig"), 0x1000), parse("file:/tmp/vm.mig,offset=0x1000"));
        assertEquals("file:/tmp/vm.mig,offset=4096", parse("file:/tmp/vm.mig,offset=0x1000").toString());
    }

    @Test
    void badFileOffsetsAndMissingPathsAreRejected() {
        rejected("file:/tmp/vm.mig,offset=abc", "invalid offset", "abc");
        rejected("file:/tmp/vm.mig,offset=", "invalid offset");
        rejected("file:/tmp/vm.mig,offset=0xzz", "invalid offset");
        rejected("file:/tmp/vm.mig,offset=-5", "negative offset");
        rejected("file:,offset=16", "without a path");
        rejected("file:", "without a path");
    }

    @Test
    void fdNamesADescriptorPassedWithGetfd() throws Exception {
        assertEquals(new MigrationUri.Fd("migfd"), MigrationUri.parse("fd:migfd"));
        assertEquals("fd:migfd", MigrationUri.parse("fd:migfd").toString());
        var incoming = assertThrows(dev.livemig.wire.MigrationException.class, () -> Transports.listen(MigrationUri.parse("fd:migfd")));
        assertTrue(incoming.getMessage().startsWith("fd:migfd names a descriptor passed with QMP getfd"), incoming.getMessage());
    }

    @Test
    void unknownAndUnsupportedSchemesSaySo() {
        rejected("ftp://host/x", "unknown migration transport ftp:", "ftp://host/x");
        rejected("rdma:host:4444", "transport rdma: is not supported");
        rejected("fd:", "without a descriptor name");
        rejected("vsock:3:4444", "transport vsock: is not supported");
        rejected("just-a-path", "invalid migration URI", "just-a-path");
    }
}
