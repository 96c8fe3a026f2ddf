package dev.livemig.transport.tls;

import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A server certificate matches a host name by gnutls' rules (gnutls_x509_crt_check_hostname, which QEMU calls):
 * addresses against iPAddress names only, names against dNSName names with a leftmost wildcard, the CN only when
 * there is no subjectAltName of either kind. Every case here gave the same answer from gnutls 3.7.9 itself
 * (QEMU 7.2's and 10.0's on Debian 12), through a small C harness calling gnutls_x509_crt_check_hostname.
 */
class CertificateHostnameTest {
    @TempDir
    static Path root;
    static TestPki pki;

    @BeforeAll
    static void makePki() {
        pki = TestPki.create(root);
    }

    private static X509Certificate server(List<String> dns, List<String> ips) {
        return pki.certificate(TlsEndpoint.SERVER, s -> s.withNames(dns, ips));
    }

    @Test
    void aDnsNameMatchesIgnoringAsciiCase() {
        X509Certificate cert = server(List.of("localhost", "migration.example.org"), List.of());
        assertTrue(CertificateHostname.matches(cert, "localhost"));
        assertTrue(CertificateHostname.matches(cert, "LocalHost"));
        assertTrue(CertificateHostname.matches(cert, "Migration.Example.ORG"));
        assertFalse(CertificateHostname.matches(cert, "localhost.localdomain"));
        assertFalse(CertificateHostname.matches(cert, "example.org"));
        assertFalse(CertificateHostname.matches(cert, "localhost."), "no trailing-dot folding");
    }

    @Test
    void anAddressMatchesOnlyAnIpAddressName() {
        X509Certificate cert = server(List.of("localhost", "192.0.2.7"), List.of("127.0.0.1", "::1"));
        assertTrue(CertificateHostname.matches(cert, "127.0.0.1"));
        assertTrue(CertificateHostname.matches(cert, "::1"));
        assertTrue(CertificateHostname.matches(cert, "0:0:0:0:0:0:0:1"), "the same 16 bytes");
        assertFalse(CertificateHostname.matches(cert, "192.0.2.7"), "an address in a dNSName does not count (gnutls 3.6+)");
        assertFalse(CertificateHostname.matches(cert, "127.0.0.2"));
        X509Certificate v6 = server(List.of(), List.of("fec0::dead:beaf", "192.168.122.1"));
        assertTrue(CertificateHostname.matches(v6, "FEC0::DEAD:BEAF"));
        assertTrue(CertificateHostname.matches(v6, "fec0:0:0:0:0:0:dead:beaf"));
        assertFalse(CertificateHostname.matches(v6, "[fec0::dead:beaf]"));
        assertFalse(CertificateHostname.matches(v6, "fec0::dead:beaf%eth0"));
    }

    @Test
    void anIpv4MappedAddressIsSixteenBytes() {
        assertArrayEquals(new byte[] {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, -1, 127, 0, 0, 1},
                CertificateHostname.ipAddress("::ffff:127.0.0.1"));
        assertFalse(CertificateHostname.matches(server(List.of(), List.of("127.0.0.1")), "::ffff:127.0.0.1"));
    }

    @Test
    void onlyStrictDottedDecimalIsAnIpv4Address() {
        assertArrayEquals(new byte[] {10, 0, 0, 1}, CertificateHostname.ipAddress("10.0.0.1"));
        assertNull(CertificateHostname.ipAddress("010.0.0.1"));
        assertNull(CertificateHostname.ipAddress("10.0.1"));
        assertNull(CertificateHostname.ipAddress("10.0.0.256"));
        assertNull(CertificateHostname.ipAddress("[::1]"));
        assertNull(CertificateHostname.ipAddress("fe80::1%eth0"));
        assertTrue(CertificateHostname.matches(server(List.of("10.0.1"), List.of()), "10.0.1"), "not an address: a name");
    }

    @Test
    void aWildcardStandsForPartOfTheFirstLabel() {
        assertTrue(CertificateHostname.nameMatches("*.example.org", "host.example.org"));
        assertTrue(CertificateHostname.nameMatches("*.Example.org", "HOST.example.ORG"));
        assertTrue(CertificateHostname.nameMatches("*st.example.org", "host.example.org"));
        assertTrue(CertificateHostname.nameMatches("*st.example.org", "st.example.org"));
        assertFalse(CertificateHostname.nameMatches("*st.example.org", "hostx.example.org"));
        assertTrue(CertificateHostname.nameMatches("*.example.org", ".example.org"), "gnutls lets * be empty");
        assertFalse(CertificateHostname.nameMatches("*.example.org", "a.host.example.org"));
        assertFalse(CertificateHostname.nameMatches("*.example.org", "example.org"));
        assertFalse(CertificateHostname.nameMatches("*.org", "example.org"), "two labels at least after the *");
        assertFalse(CertificateHostname.nameMatches("*", "localhost"));
        assertFalse(CertificateHostname.nameMatches("*.example.org.", "host.example.org."));
        assertFalse(CertificateHostname.nameMatches("h*.example.org", "host.example.org"), "* only first");
        assertTrue(CertificateHostname.nameMatches("h*.example.org", "h*.example.org"));
        assertTrue(CertificateHostname.matches(server(List.of("*.example.org"), List.of()), "db1.example.org"));
    }

    @Test
    void theCommonNameCountsOnlyWithoutSubjectAltNames() {
        X509Certificate cnOnly = pki.certificate(TlsEndpoint.SERVER,
                s -> s.withSubject("C=GB,O=livemig,CN=cn.example.org").withNames(List.of(), List.of()));
        assertTrue(CertificateHostname.matches(cnOnly, "cn.example.org"));
        X509Certificate withDns = pki.certificate(TlsEndpoint.SERVER,
                s -> s.withSubject("CN=cn.example.org").withNames(List.of("other.example.org"), List.of()));
        assertFalse(CertificateHostname.matches(withDns, "cn.example.org"));
        X509Certificate withAddress = pki.certificate(TlsEndpoint.SERVER,
                s -> s.withSubject("CN=cn.example.org").withNames(List.of(), List.of("127.0.0.1")));
        assertFalse(CertificateHostname.matches(withAddress, "cn.example.org"));
        X509Certificate twoCns = pki.certificate(TlsEndpoint.SERVER,
                s -> s.withSubject("CN=cn.example.org,CN=other.example.org").withNames(List.of(), List.of()));
        assertFalse(CertificateHostname.matches(twoCns, "cn.example.org"));
        X509Certificate clientPurpose = pki.certificate(TlsEndpoint.SERVER, s -> s.withSubject("CN=cn.example.org")
                .withNames(List.of(), List.of()).withPurposes(false, KeyPurposeId.id_kp_clientAuth));
        assertFalse(CertificateHostname.matches(clientPurpose, "cn.example.org"), "a CN names a host only for servers");
        X509Certificate noPurpose = pki.certificate(TlsEndpoint.SERVER, s -> s.withSubject("CN=*.example.org")
                .withNames(List.of(), List.of()).withPurposes(false));
        assertTrue(CertificateHostname.matches(noPurpose, "cn.example.org"));
        assertFalse(CertificateHostname.matches(cnOnly, "127.0.0.1"));
    }
}
