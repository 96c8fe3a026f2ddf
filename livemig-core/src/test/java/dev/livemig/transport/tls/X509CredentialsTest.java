package dev.livemig.transport.tls;

import dev.livemig.json.Json;
import org.bouncycastle.asn1.ASN1Integer;
import org.bouncycastle.asn1.DERSequence;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PKCS8Generator;
import org.bouncycastle.openssl.jcajce.JcaMiscPEMGenerator;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcePEMEncryptorBuilder;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.openssl.jcajce.JceOpenSSLPKCS8EncryptorBuilder;
import org.bouncycastle.util.io.pem.PemObject;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Creating tls-creds-x509 reads and checks its files as QEMU does, with QEMU's texts: the QAPI property types, the
 * files each endpoint needs, the sanity checks of the certificates, and the key forms certtool and openssl write.
 */
class X509CredentialsTest {
    @TempDir
    static Path pkiRoot;
    static TestPki pki;

    @TempDir
    Path scratch;
    private int copies;

    @BeforeAll
    static void makePki() {
        pki = TestPki.create(pkiRoot);
    }

    private static Json.Obj props(String dir, String endpoint) {
        return Json.object().put("dir", dir).put("endpoint", endpoint).build();
    }

    private static X509Credentials create(Path dir, String endpoint) throws UserObjectException {
        return X509Credentials.create("tls0", props(dir.toString(), endpoint));
    }

    private static String refusal(Json.Obj props) {
        return assertThrows(UserObjectException.class, () -> X509Credentials.create("tls0", props)).getMessage();
    }

    private static String refusal(Path dir, String endpoint) {
        return refusal(props(dir.toString(), endpoint));
    }

    /** A copy of {@code dir} changed by {@code change}, under a new name. */
    private Path copyOf(Path dir, Consumer<Path> change) throws IOException {
        Path copy = Files.createDirectories(scratch.resolve("copy-" + copies++ + "-" + dir.getFileName()));
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.copy(f, copy.resolve(f.getFileName()));
            }
        }
        change.accept(copy);
        return copy;
    }

    private static void write(Path file, String text) {
        try {
            Files.writeString(file, text);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static void delete(Path file) {
        try {
            Files.delete(file);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void aServerAndAClientDirectoryMakeCredentialsForTheirEndpoints() throws Exception {
        X509Credentials server = create(pki.serverDir(), "server");
        assertEquals("tls0", server.id());
        assertEquals("tls-creds-x509", server.qomType());
        assertEquals(TlsEndpoint.SERVER, server.endpoint());
        assertTrue(server.verifyPeer());
        assertEquals(TlsEndpoint.CLIENT, create(pki.clientDir(), "client").endpoint());
        assertEquals(TlsEndpoint.CLIENT, create(pki.clientDirWithoutCert(), "client").endpoint());
        assertEquals(TlsEndpoint.SERVER, create(pki.combinedDir(), "server").endpoint());
        assertEquals(TlsEndpoint.CLIENT, create(pki.combinedDir(), "client").endpoint());
    }

    @Test
    void theEndpointIsClientAndVerifyPeerOnUnlessSaid() throws Exception {
        X509Credentials c = X509Credentials.create("tls0", Json.object().put("dir", pki.clientDir().toString()).build());
        assertEquals(TlsEndpoint.CLIENT, c.endpoint());
        assertTrue(c.verifyPeer());
        X509Credentials off = X509Credentials.create("tls0", Json.object().put("dir", pki.clientDir().toString())
                .put("verify-peer", false).put("sanity-check", false).put("priority", "NORMAL").build());
        assertFalse(off.verifyPeer());
    }

    @Test
    void propertiesOfTheWrongTypeAreRefusedWithTheQapiVisitorsTexts() {
        assertEquals("Invalid parameter type for 'dir', expected: string",
                refusal(Json.object().put("dir", 5).build()));
        assertEquals("Invalid parameter type for 'dir', expected: string",
                refusal(Json.object().put("dir", new Json.Null()).build()));
        assertEquals("Invalid parameter type for 'verify-peer', expected: boolean",
                refusal(Json.object().put("verify-peer", "yes").build()));
        assertEquals("Invalid parameter type for 'sanity-check', expected: boolean",
                refusal(Json.object().put("sanity-check", 1).build()));
        assertEquals("Invalid parameter type for 'endpoint', expected: string",
                refusal(Json.object().put("endpoint", 5).build()));
        assertEquals("Parameter 'endpoint' does not accept value 'x'",
                refusal(Json.object().put("endpoint", "x").build()));
        assertEquals("Parameter 'bogus' is unexpected", refusal(Json.object().put("bogus", 1).build()));
        // QEMU 10.0 has no 'loaded' (7.2 says "Property 'tls-creds-x509.loaded' is not writable")
        assertEquals("Parameter 'loaded' is unexpected", refusal(Json.object().put("loaded", true).build()));
    }

    @Test
    void typesAreCheckedInTheSchemasOrderBeforeUnexpectedMembers() {
        assertEquals("Invalid parameter type for 'verify-peer', expected: boolean", refusal(Json.object()
                .put("bogus", 1).put("passwordid", 2).put("dir", 3).put("verify-peer", "on").build()));
        assertEquals("Invalid parameter type for 'passwordid', expected: string",
                refusal(Json.object().put("bogus", 1).put("passwordid", 2).build()));
    }

    @Test
    void missingFilesAreRefusedWithQemusTexts() throws Exception {
        assertEquals("Missing 'dir' property value", refusal(Json.object().put("endpoint", "server").build()));
        Path none = scratch.resolve("none");
        assertEquals("Unable to access credentials " + none + "/ca-cert.pem: No such file or directory",
                refusal(none, "client"));
        assertEquals("Unable to access credentials " + none + "//ca-cert.pem: No such file or directory",
                refusal(props(none + "/", "server")), "the path as QEMU joins it");
        Path noKey = copyOf(pki.serverDir(), d -> delete(d.resolve("server-key.pem")));
        assertEquals("Unable to access credentials " + noKey + "/server-key.pem: No such file or directory",
                refusal(noKey, "server"));
        Path noCert = copyOf(pki.serverDir(), d -> delete(d.resolve("server-cert.pem")));
        assertEquals("Unable to access credentials " + noCert + "/server-cert.pem: No such file or directory",
                refusal(noCert, "server"));
    }

    @Test
    void theCrlAndDhParametersAreOptionalForAServer() throws Exception {
        Path noCrl = copyOf(pki.serverDir(), d -> delete(d.resolve("ca-crl.pem")));
        assertEquals(TlsEndpoint.SERVER, create(noCrl, "server").endpoint());
        byte[] pkcs3 = new DERSequence(new org.bouncycastle.asn1.ASN1Encodable[] {
                new ASN1Integer(23), new ASN1Integer(5)}).getEncoded();
        Path dh = copyOf(pki.serverDir(), d -> write(d.resolve("dh-params.pem"),
                TestPki.pem(new PemObject("DH PARAMETERS", pkcs3))));
        assertEquals(TlsEndpoint.SERVER, create(dh, "server").endpoint());
    }

    @Test
    void unusableCrlAndDhParametersAreRefused() throws Exception {
        Path badCrl = copyOf(pki.serverDir(), d -> write(d.resolve("ca-crl.pem"), "nothing here\n"));
        assertEquals("Cannot load CRL '" + badCrl + "/ca-crl.pem': Base64 unexpected header error.",
                refusal(badCrl, "server"));
        Path badDh = copyOf(pki.serverDir(), d -> write(d.resolve("dh-params.pem"), "nothing here\n"));
        assertEquals("Unable to load DH parameters from " + badDh + "/dh-params.pem: Base64 unexpected header error.",
                refusal(badDh, "server"));
    }

    @Test
    void dhParametersMustBeAPkcs3DhParameterAsForPskCredentials() throws Exception {
        byte[] emptySequence = new DERSequence(new org.bouncycastle.asn1.ASN1Encodable[0]).getEncoded();
        Path dh = copyOf(pki.serverDir(), d -> write(d.resolve("dh-params.pem"),
                TestPki.pem(new PemObject("DH PARAMETERS", emptySequence))));
        assertEquals("Unable to load DH parameters from " + dh + "/dh-params.pem: ASN1 parser: Error in DER parsing.",
                refusal(dh, "server"));
    }

    @Test
    void anExpiredOrNotYetValidCertificateFailsTheSanityCheck() throws Exception {
        Path expired = pki.serverDir(TestPki.Flaw.EXPIRED);
        assertEquals("The server certificate " + expired + "/server-cert.pem has expired", refusal(expired, "server"));
        Path early = pki.serverDir(TestPki.Flaw.NOT_YET_VALID);
        assertEquals("The server certificate " + early + "/server-cert.pem is not yet active", refusal(early, "server"));
        Path expiredClient = pki.clientDir(TestPki.Flaw.EXPIRED);
        assertEquals("The client certificate " + expiredClient + "/client-cert.pem has expired",
                refusal(expiredClient, "client"));
    }

    @Test
    void withoutTheSanityCheckAnExpiredCertificateIsTaken() throws Exception {
        Json.Obj props = Json.object().put("dir", pki.serverDir(TestPki.Flaw.EXPIRED).toString())
                .put("endpoint", "server").put("sanity-check", false).build();
        assertEquals(TlsEndpoint.SERVER, X509Credentials.create("tls0", props).endpoint());
    }

    @Test
    void anExpiredCaFailsTheSanityCheck() {
        Instant now = Instant.now().truncatedTo(ChronoUnit.SECONDS);
        Path d = pki.dir("expired-ca", TlsEndpoint.CLIENT,
                ca -> ca.withValidity(now.minus(10, ChronoUnit.DAYS), now.minus(1, ChronoUnit.DAYS)), s -> s);
        assertEquals("The CA certificate " + d + "/ca-cert.pem has expired", refusal(d, "client"));
    }

    @Test
    void basicConstraintsAreChecked() {
        Path serverIsCa = pki.dir("server-is-ca", TlsEndpoint.SERVER, null, s -> s.withCa(true));
        assertEquals("The certificate " + serverIsCa + "/server-cert.pem basic constraints show a CA, but we need one"
                + " for a server", refusal(serverIsCa, "server"));
        Path clientIsCa = pki.dir("client-is-ca", TlsEndpoint.CLIENT, null, s -> s.withCa(true));
        assertEquals("The certificate " + clientIsCa + "/client-cert.pem basic constraints show a CA, but we need one"
                + " for a client", refusal(clientIsCa, "client"));
        Path caWithout = pki.dir("ca-without-constraints", TlsEndpoint.SERVER, ca -> ca.withCa(null), s -> s);
        assertEquals("The certificate " + caWithout + "/ca-cert.pem is missing basic constraints for a CA",
                refusal(caWithout, "server"));
        Path caNotCa = pki.dir("ca-not-ca", TlsEndpoint.SERVER, ca -> ca.withCa(false), s -> s);
        assertEquals("The certificate " + caNotCa + "/ca-cert.pem basic constraints do not show a CA",
                refusal(caNotCa, "server"));
    }

    @Test
    void aCriticalKeyUsageMustPermitWhatTheCertificateDoes() throws Exception {
        Path noEncipherment = pki.dir("no-encipherment", TlsEndpoint.SERVER, null,
                s -> s.withKeyUsage(KeyUsage.digitalSignature, true));
        assertEquals("Certificate " + noEncipherment + "/server-cert.pem usage does not permit key encipherment",
                refusal(noEncipherment, "server"));
        Path noSignature = pki.dir("no-signature", TlsEndpoint.CLIENT, null,
                s -> s.withKeyUsage(KeyUsage.keyEncipherment, true));
        assertEquals("Certificate " + noSignature + "/client-cert.pem usage does not permit digital signature",
                refusal(noSignature, "client"));
        Path caNoSigning = pki.dir("ca-no-signing", TlsEndpoint.CLIENT, ca -> ca.withKeyUsage(KeyUsage.cRLSign, true),
                s -> s);
        assertEquals("Certificate " + caNoSigning + "/ca-cert.pem usage does not permit certificate signing",
                refusal(caNoSigning, "client"));
        Path notCritical = pki.dir("usage-not-critical", TlsEndpoint.SERVER, null,
                s -> s.withKeyUsage(KeyUsage.digitalSignature, false));
        assertEquals(TlsEndpoint.SERVER, create(notCritical, "server").endpoint(), "QEMU lets a non-critical usage pass");
    }

    @Test
    void aCriticalKeyPurposeMustAllowTheEndpoint() throws Exception {
        Path clientPurpose = pki.dir("server-for-clients", TlsEndpoint.SERVER, null,
                s -> s.withPurposes(true, KeyPurposeId.id_kp_clientAuth));
        assertEquals("Certificate " + clientPurpose + "/server-cert.pem purpose does not allow use with a TLS server",
                refusal(clientPurpose, "server"));
        Path serverPurpose = pki.dir("client-for-servers", TlsEndpoint.CLIENT, null,
                s -> s.withPurposes(true, KeyPurposeId.id_kp_serverAuth));
        assertEquals("Certificate " + serverPurpose + "/client-cert.pem purpose does not allow use with a TLS client",
                refusal(serverPurpose, "client"));
        Path any = pki.dir("any-purpose", TlsEndpoint.SERVER, null,
                s -> s.withPurposes(true, KeyPurposeId.anyExtendedKeyUsage));
        assertEquals(TlsEndpoint.SERVER, create(any, "server").endpoint());
        Path none = pki.dir("no-purpose", TlsEndpoint.SERVER, null, s -> s.withPurposes(false));
        assertEquals(TlsEndpoint.SERVER, create(none, "server").endpoint());
    }

    @Test
    void theOwnCertificateMustVerifyAgainstTheCas() throws Exception {
        Path otherCa = copyOf(pki.serverDir(TestPki.Flaw.OTHER_CA),
                d -> write(d.resolve("ca-cert.pem"), TestPki.pem(pki.caCertificate())));
        assertEquals("Our own certificate " + otherCa + "/server-cert.pem failed validation against " + otherCa
                + "/ca-cert.pem: The certificate hasn't got a known issuer", refusal(otherCa, "server"));
    }

    @Test
    void aFileWithoutCertificatesIsRefused() throws Exception {
        Path noCert = copyOf(pki.serverDir(), d -> write(d.resolve("server-cert.pem"), "not a certificate\n"));
        assertEquals("Unable to import server certificate " + noCert + "/server-cert.pem: Base64 unexpected header error.",
                refusal(noCert, "server"));
        Path noCa = copyOf(pki.clientDir(), d -> write(d.resolve("ca-cert.pem"), "not a certificate\n"));
        assertEquals("Unable to import CA certificate list " + noCa + "/ca-cert.pem", refusal(noCa, "client"));
        Json.Obj unchecked = Json.object().put("dir", noCa.toString()).put("sanity-check", false).build();
        assertEquals("Cannot load CA certificate '" + noCa + "/ca-cert.pem': Base64 unexpected header error.",
                refusal(unchecked));
    }

    @Test
    void aKeyOfAnotherCertificateIsRefused() throws Exception {
        Path d = copyOf(pki.serverDir(), c -> write(c.resolve("server-key.pem"),
                read(pki.clientDir().resolve("client-key.pem"))));
        assertEquals("Cannot load certificate '" + d + "/server-cert.pem' & key '" + d
                + "/server-key.pem': The certificate and the given key do not match.", refusal(d, "server"));
    }

    @Test
    void keysAreReadInEachFormCerttoolAndOpensslWrite() throws Exception {
        for (TestPki.KeyType type : TestPki.KeyType.values()) {
            for (TestPki.KeyForm form : TestPki.KeyForm.values()) {
                TestPki p = TestPki.builder(scratch.resolve(type + "-" + form)).keyType(type).keyForm(form).build();
                String header = form == TestPki.KeyForm.PKCS8 ? "-----BEGIN PRIVATE KEY-----"
                        : type == TestPki.KeyType.RSA_2048 ? "-----BEGIN RSA PRIVATE KEY-----"
                        : "-----BEGIN EC PRIVATE KEY-----";
                assertTrue(read(p.serverDir().resolve("server-key.pem")).startsWith(header), type + " " + form);
                assertEquals(TlsEndpoint.SERVER, create(p.serverDir(), "server").endpoint(), type + " " + form);
                assertEquals(TlsEndpoint.CLIENT, create(p.clientDir(), "client").endpoint(), type + " " + form);
            }
        }
    }

    @Test
    void anEcKeyAfterItsParametersAsOpensslEcparamWritesItIsRead() throws Exception {
        TestPki p = TestPki.builder(scratch.resolve("ecparam")).keyForm(TestPki.KeyForm.TRADITIONAL).build();
        Path d = copyOf(p.serverDir(), c -> write(c.resolve("server-key.pem"),
                "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
                        + read(c.resolve("server-key.pem"))));
        assertEquals(TlsEndpoint.SERVER, create(d, "server").endpoint());
    }

    @Test
    void anEncryptedKeyOrAPasswordidIsRefusedWithAClearText() throws Exception {
        var bc = new BouncyCastleProvider(); // the JDK has no "AES/CBC/PKCS7Padding" by that name; not registered
        var pair = java.security.KeyPairGenerator.getInstance("EC").generateKeyPair();
        var pkcs8 = new JceOpenSSLPKCS8EncryptorBuilder(PKCS8Generator.AES_256_CBC).setProvider(bc)
                .setPassword("secret".toCharArray()).build();
        String encryptedPkcs8 = TestPki.pem(new JcaPKCS8Generator(pair.getPrivate(), pkcs8).generate());
        assertTrue(encryptedPkcs8.startsWith("-----BEGIN ENCRYPTED PRIVATE KEY-----"), encryptedPkcs8);
        var legacy = new JcePEMEncryptorBuilder("AES-128-CBC").setProvider(bc).build("secret".toCharArray());
        var encryptedSec1 = new java.io.StringWriter();
        try (var w = new JcaPEMWriter(encryptedSec1)) {
            w.writeObject(new JcaMiscPEMGenerator(pair.getPrivate(), legacy));
        }
        assertTrue(encryptedSec1.toString().contains("Proc-Type: 4,ENCRYPTED"), encryptedSec1.toString());
        for (String encrypted : List.of(encryptedPkcs8, encryptedSec1.toString())) {
            Path d = copyOf(pki.serverDir(), c -> write(c.resolve("server-key.pem"), encrypted));
            String refused = refusal(d, "server");
            assertTrue(refused.startsWith("Cannot load certificate '" + d + "/server-cert.pem' & key '" + d
                    + "/server-key.pem': Decryption has failed."), refused);
            assertTrue(refused.contains("unencrypted"), refused);
        }
        Json.Obj withPassword = Json.object().put("dir", pki.serverDir().toString()).put("endpoint", "server")
                .put("passwordid", "sec0").build();
        assertTrue(refusal(withPassword).startsWith("No secret with id 'sec0'"));
    }

    @Test
    void sessionsAreForTheEndpointTheCredentialsAreFor() throws Exception {
        X509Credentials client = create(pki.clientDir(), "client");
        assertEquals("Credentials endpoint doesn't match session",
                assertThrows(TlsException.class, () -> client.server(null, null)).getMessage());
        X509Credentials server = create(pki.serverDir(), "server");
        assertEquals("Credentials endpoint doesn't match session",
                assertThrows(TlsException.class, () -> server.client(null, "localhost")).getMessage());
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
