package dev.livemig.transport.tls;

import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.CRLReason;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.cert.X509v2CRLBuilder;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CRLConverter;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.util.io.pem.PemObject;

import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.interfaces.ECPrivateKey;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * A PKI for TLS tests, made fresh for each run under a directory of the test's (keys are never committed): a CA,
 * a server certificate, a client certificate, and flawed ones, written as QEMU's tls-creds-x509 reads them, one
 * directory per endpoint (ca-cert.pem, ca-crl.pem, server-cert.pem and server-key.pem, or client-cert.pem and
 * client-key.pem). The certificates are made as QEMU's own tests make theirs (tests/unit/crypto-tls-x509-helpers.c),
 * so they pass QEMU's sanity checks: the CA with critical basic constraints CA:TRUE and key usage keyCertSign (and
 * cRLSign, for its CRL); the others with critical CA:FALSE, critical digitalSignature and keyEncipherment (for EC
 * keys too: QEMU requires it wherever key usage is critical) and a critical extended key usage of serverAuth or
 * clientAuth. A directory is usable as it is by a real QEMU:
 * {@code -object tls-creds-x509,id=tls0,dir=DIR,endpoint=server}.
 *
 * <p>Names are encoded in the order written ("CN=livemig-client,O=livemig,C=GB" puts CN first), so gnutls, which
 * writes a name in its encoded order, gives the client's identity to an authz exactly as written here.
 *
 * <p>Directories are made when first asked for; one instance may be shared by the tests of a class.
 */
public final class TestPki {
    /** The key of every certificate: EC keys are quick to make, RSA ones are what most QEMU set-ups have. */
    public enum KeyType { EC_P256, RSA_2048 }

    /** How keys are written: PKCS#8 "PRIVATE KEY", or PKCS#1 "RSA PRIVATE KEY" / SEC1 "EC PRIVATE KEY". */
    public enum KeyForm { PKCS8, TRADITIONAL }

    /** What is wrong with a flawed certificate of {@link #serverDir(Flaw)} or {@link #clientDir(Flaw)}. */
    public enum Flaw {
        /** Expired yesterday: QEMU's sanity check refuses it as its own (create with sanity-check off). */
        EXPIRED,
        /** Valid from tomorrow: QEMU's sanity check refuses it as its own (create with sanity-check off). */
        NOT_YET_VALID,
        /** Issued by another CA; the directory trusts both CAs, so its owner accepts the usual peers. */
        OTHER_CA,
        /** A server certificate for wrong-host.invalid only. */
        WRONG_HOSTNAME,
        /** A client certificate the CA revoked: every server directory's ca-crl.pem lists it. */
        REVOKED
    }

    /** The client's subject unless the builder says otherwise. */
    public static final String CLIENT_DN = "CN=livemig-client,O=livemig,C=GB";
    public static final String CA_DN = "CN=livemig test CA,O=livemig,C=GB";
    public static final String OTHER_CA_DN = "CN=livemig other CA,O=livemig,C=GB";
    /** The only name of a {@link Flaw#WRONG_HOSTNAME} server certificate. */
    public static final String WRONG_HOSTNAME = "wrong-host.invalid";

    /**
     * What one certificate says. {@code ca} null leaves basic constraints out; {@code keyUsage} is BouncyCastle's
     * {@link KeyUsage} bits (0: no extension); no {@code purposes}: no extended key usage.
     */
    public record CertificateSpec(String subject, Instant notBefore, Instant notAfter, Boolean ca, int keyUsage,
                                  boolean keyUsageCritical, List<KeyPurposeId> purposes, boolean purposesCritical,
                                  List<String> dnsNames, List<String> ipAddresses) {
        public CertificateSpec {
            purposes = List.copyOf(purposes);
            dnsNames = List.copyOf(dnsNames);
            ipAddresses = List.copyOf(ipAddresses);
        }

        public CertificateSpec withSubject(String dn) {
            return new CertificateSpec(dn, notBefore, notAfter, ca, keyUsage, keyUsageCritical, purposes,
                    purposesCritical, dnsNames, ipAddresses);
        }

        public CertificateSpec withValidity(Instant from, Instant to) {
            return new CertificateSpec(subject, from, to, ca, keyUsage, keyUsageCritical, purposes, purposesCritical,
                    dnsNames, ipAddresses);
        }

        public CertificateSpec withCa(Boolean isCa) {
            return new CertificateSpec(subject, notBefore, notAfter, isCa, keyUsage, keyUsageCritical, purposes,
                    purposesCritical, dnsNames, ipAddresses);
        }

        public CertificateSpec withKeyUsage(int bits, boolean critical) {
            return new CertificateSpec(subject, notBefore, notAfter, ca, bits, critical, purposes, purposesCritical,
                    dnsNames, ipAddresses);
        }

        public CertificateSpec withPurposes(boolean critical, KeyPurposeId... ids) {
            return new CertificateSpec(subject, notBefore, notAfter, ca, keyUsage, keyUsageCritical, List.of(ids),
                    critical, dnsNames, ipAddresses);
        }

        public CertificateSpec withNames(List<String> dns, List<String> ips) {
            return new CertificateSpec(subject, notBefore, notAfter, ca, keyUsage, keyUsageCritical, purposes,
                    purposesCritical, dns, ips);
        }
    }

    /** Chooses what {@link #create} takes by default. */
    public static final class Builder {
        private final Path root;
        private KeyType keyType = KeyType.EC_P256;
        private KeyForm keyForm = KeyForm.PKCS8;
        private List<String> serverDnsNames = List.of("localhost");
        private List<String> serverIpAddresses = List.of("127.0.0.1", "::1");
        private String clientDn = CLIENT_DN;
        private Duration validity = Duration.ofDays(30);

        private Builder(Path root) {
            this.root = root;
        }

        public Builder keyType(KeyType type) {
            keyType = type;
            return this;
        }

        public Builder keyForm(KeyForm form) {
            keyForm = form;
            return this;
        }

        /** The server's dNSName subjectAltNames (localhost); the first is its CN too. */
        public Builder serverDnsNames(String... names) {
            serverDnsNames = List.of(names);
            return this;
        }

        /** The server's iPAddress subjectAltNames (127.0.0.1 and ::1). */
        public Builder serverIpAddresses(String... addresses) {
            serverIpAddresses = List.of(addresses);
            return this;
        }

        /** The client certificate's subject ({@link #CLIENT_DN}), encoded in the order written. */
        public Builder clientDn(String dn) {
            clientDn = dn;
            return this;
        }

        /** How long good certificates stay valid (30 days; they start an hour ago against clock skew). */
        public Builder validity(Duration d) {
            validity = d;
            return this;
        }

        public TestPki build() {
            return new TestPki(this);
        }
    }

    private record Issued(X509Certificate certificate, KeyPair keys) {
        PrivateKey key() {
            return keys.getPrivate();
        }
    }

    private final Path root;
    private final KeyType keyType;
    private final KeyForm keyForm;
    private final List<String> serverDnsNames;
    private final List<String> serverIpAddresses;
    private final String clientDn;
    private final Duration validity;
    private final Instant now = Instant.now().truncatedTo(ChronoUnit.SECONDS);
    private final SecureRandom random = new SecureRandom();
    private final Issued ca;
    private final BigInteger revokedSerial;
    private final X509CRL crl;
    private Issued otherCa;
    private final Map<String, Path> dirs = new HashMap<>();

    private TestPki(Builder b) {
        root = b.root;
        keyType = b.keyType;
        keyForm = b.keyForm;
        serverDnsNames = b.serverDnsNames;
        serverIpAddresses = b.serverIpAddresses;
        clientDn = b.clientDn;
        validity = b.validity;
        ca = issue(caSpec(CA_DN), null);
        revokedSerial = serial();
        crl = revocationList(ca, revokedSerial);
    }

    /** A PKI with the defaults: EC P-256 keys written as PKCS#8, a server for localhost, 127.0.0.1 and ::1. */
    public static TestPki create(Path root) {
        return builder(root).build();
    }

    public static Builder builder(Path root) {
        return new Builder(root);
    }

    /** The CA every good certificate chains to. */
    public X509Certificate caCertificate() {
        return ca.certificate();
    }

    /** The good client's subject as written, which is also how gnutls (and QEMU's authz) see it. */
    public String clientDn() {
        return clientDn;
    }

    /** Files for a server endpoint: ca-cert.pem, ca-crl.pem, server-cert.pem, server-key.pem. */
    public Path serverDir() {
        return dir("server", TlsEndpoint.SERVER, null, UnaryOperator.identity());
    }

    /** Files for a client endpoint: ca-cert.pem, client-cert.pem, client-key.pem. */
    public Path clientDir() {
        return dir("client", TlsEndpoint.CLIENT, null, UnaryOperator.identity());
    }

    /** A client endpoint without a certificate of its own: ca-cert.pem only. */
    public synchronized Path clientDirWithoutCert() {
        return dirs.computeIfAbsent("client-without-cert", name -> {
            Path d = mkdir(name);
            writeCertificates(d.resolve(X509CredentialFiles.CA_CERT), List.of(ca.certificate()));
            return d;
        });
    }

    /**
     * One directory for both endpoints (as libvirt keeps /etc/pki/qemu): the CA and its CRL and the good server
     * and client files, for a process that is source and destination.
     */
    public synchronized Path combinedDir() {
        Path server = serverDir();
        Path client = clientDir();
        return dirs.computeIfAbsent("combined", name -> {
            Path d = mkdir(name);
            for (String f : List.of(X509CredentialFiles.CA_CERT, X509CredentialFiles.CA_CRL,
                    X509CredentialFiles.SERVER_CERT, X509CredentialFiles.SERVER_KEY)) {
                copy(server.resolve(f), d.resolve(f));
            }
            for (String f : List.of(X509CredentialFiles.CLIENT_CERT, X509CredentialFiles.CLIENT_KEY)) {
                copy(client.resolve(f), d.resolve(f));
            }
            return d;
        });
    }

    /** A server directory whose certificate has {@code flaw} (REVOKED: a client CRL is not read by QEMU, so none). */
    public Path serverDir(Flaw flaw) {
        if (flaw == Flaw.REVOKED) {
            throw new IllegalArgumentException("QEMU's client endpoint reads no ca-crl.pem: a revoked server "
                    + "certificate would go unnoticed");
        }
        return flawed(TlsEndpoint.SERVER, flaw);
    }

    /** A client directory whose certificate has {@code flaw}. */
    public Path clientDir(Flaw flaw) {
        if (flaw == Flaw.WRONG_HOSTNAME) {
            throw new IllegalArgumentException("a client certificate names no host");
        }
        return flawed(TlsEndpoint.CLIENT, flaw);
    }

    private Path flawed(TlsEndpoint endpoint, Flaw flaw) {
        String name = endpoint.qemuName() + "-" + flaw.name().toLowerCase().replace('_', '-');
        return switch (flaw) {
            case EXPIRED -> dir(name, endpoint, null, s -> s.withValidity(now.minus(Duration.ofDays(30)),
                    now.minus(Duration.ofDays(1))));
            case NOT_YET_VALID -> dir(name, endpoint, null, s -> s.withValidity(now.plus(Duration.ofDays(1)),
                    now.plus(Duration.ofDays(30))));
            case WRONG_HOSTNAME -> dir(name, endpoint, null, s -> s.withSubject("CN=" + WRONG_HOSTNAME + ",O=livemig,C=GB")
                    .withNames(List.of(WRONG_HOSTNAME), List.of()));
            case OTHER_CA -> otherCaDir(name, endpoint);
            case REVOKED -> revokedDir(name, endpoint);
        };
    }

    /**
     * A directory of {@code endpoint}'s files whose certificate is the default one changed by {@code leaf}, issued
     * by our CA, or by a CA of its own made from the default CA changed by {@code ca} (null: our CA). For
     * certificates QEMU's sanity checks must refuse; the name must be new.
     */
    public synchronized Path dir(String name, TlsEndpoint endpoint, UnaryOperator<CertificateSpec> ca,
                                 UnaryOperator<CertificateSpec> leaf) {
        Path existing = dirs.get(name);
        if (existing != null) {
            return existing;
        }
        Issued issuer = ca == null ? this.ca : issue(ca.apply(caSpec("CN=livemig " + name + " CA,O=livemig,C=GB")), null);
        Issued own = issue(leaf.apply(leafSpec(endpoint)), issuer);
        Path d = mkdir(name);
        write(d, endpoint, List.of(issuer.certificate()), own);
        dirs.put(name, d);
        return d;
    }

    /** A certificate of our CA for {@code endpoint}, the default one changed by {@code change}, not written anywhere. */
    public X509Certificate certificate(TlsEndpoint endpoint, UnaryOperator<CertificateSpec> change) {
        return issue(change.apply(leafSpec(endpoint)), ca).certificate();
    }

    private Path otherCaDir(String name, TlsEndpoint endpoint) {
        synchronized (this) {
            Path existing = dirs.get(name);
            if (existing != null) {
                return existing;
            }
            if (otherCa == null) {
                otherCa = issue(caSpec(OTHER_CA_DN), null);
            }
            Path d = mkdir(name);
            write(d, endpoint, List.of(ca.certificate(), otherCa.certificate()), issue(leafSpec(endpoint), otherCa));
            dirs.put(name, d);
            return d;
        }
    }

    private synchronized Path revokedDir(String name, TlsEndpoint endpoint) {
        return dirs.computeIfAbsent(name, n -> {
            Path d = mkdir(n);
            write(d, endpoint, List.of(ca.certificate()), issue(leafSpec(endpoint), ca, revokedSerial));
            return d;
        });
    }

    private CertificateSpec caSpec(String dn) {
        return new CertificateSpec(dn, now.minus(Duration.ofHours(1)), now.plus(validity), true,
                KeyUsage.keyCertSign | KeyUsage.cRLSign, true, List.of(), false, List.of(), List.of());
    }

    private CertificateSpec leafSpec(TlsEndpoint endpoint) {
        boolean server = endpoint == TlsEndpoint.SERVER;
        String subject = server
                ? "CN=" + (serverDnsNames.isEmpty() ? "livemig-server" : serverDnsNames.getFirst()) + ",O=livemig,C=GB"
                : clientDn;
        return new CertificateSpec(subject, now.minus(Duration.ofHours(1)), now.plus(validity), false,
                KeyUsage.digitalSignature | KeyUsage.keyEncipherment, true,
                List.of(server ? KeyPurposeId.id_kp_serverAuth : KeyPurposeId.id_kp_clientAuth), true,
                server ? serverDnsNames : List.of(), server ? serverIpAddresses : List.of());
    }

    private void write(Path d, TlsEndpoint endpoint, List<X509Certificate> cas, Issued own) {
        writeCertificates(d.resolve(X509CredentialFiles.CA_CERT), cas);
        boolean server = endpoint == TlsEndpoint.SERVER;
        if (server) {
            writeText(d.resolve(X509CredentialFiles.CA_CRL), pem(crl));
        }
        writeCertificates(d.resolve(server ? X509CredentialFiles.SERVER_CERT : X509CredentialFiles.CLIENT_CERT),
                List.of(own.certificate()));
        Path key = d.resolve(server ? X509CredentialFiles.SERVER_KEY : X509CredentialFiles.CLIENT_KEY);
        writeText(key, pem(own.keys(), keyForm));
        try {
            Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-------"));
        } catch (IOException | UnsupportedOperationException e) {
            // a file system without POSIX permissions: the key is a test's, in the test's directory
        }
    }

    private Issued issue(CertificateSpec spec, Issued issuer) {
        return issue(spec, issuer, serial());
    }

    /** A certificate per {@code spec}, signed by {@code issuer} (null: by its own key, a root CA). */
    private Issued issue(CertificateSpec spec, Issued issuer, BigInteger serial) {
        try {
            KeyPair pair = newKeyPair();
            X500Name subject = new X500Name(spec.subject());
            X500Name issuerName = issuer == null ? subject : X500Name.getInstance(
                    issuer.certificate().getSubjectX500Principal().getEncoded());
            var extensions = new JcaX509ExtensionUtils();
            X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(issuerName, serial,
                    Date.from(spec.notBefore()), Date.from(spec.notAfter()), subject, pair.getPublic());
            if (spec.ca() != null) {
                b.addExtension(Extension.basicConstraints, true, new BasicConstraints(spec.ca()));
            }
            if (spec.keyUsage() != 0) {
                b.addExtension(Extension.keyUsage, spec.keyUsageCritical(), new KeyUsage(spec.keyUsage()));
            }
            if (!spec.purposes().isEmpty()) {
                b.addExtension(Extension.extendedKeyUsage, spec.purposesCritical(),
                        new ExtendedKeyUsage(spec.purposes().toArray(KeyPurposeId[]::new)));
            }
            List<GeneralName> names = new ArrayList<>();
            spec.dnsNames().forEach(n -> names.add(new GeneralName(GeneralName.dNSName, n)));
            spec.ipAddresses().forEach(a -> names.add(new GeneralName(GeneralName.iPAddress, a)));
            if (!names.isEmpty()) {
                b.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(names.toArray(GeneralName[]::new)));
            }
            b.addExtension(Extension.subjectKeyIdentifier, false, extensions.createSubjectKeyIdentifier(pair.getPublic()));
            b.addExtension(Extension.authorityKeyIdentifier, false, issuer == null
                    ? extensions.createAuthorityKeyIdentifier(pair.getPublic())
                    : extensions.createAuthorityKeyIdentifier(issuer.certificate()));
            PrivateKey signingKey = issuer == null ? pair.getPrivate() : issuer.key();
            X509Certificate cert = new JcaX509CertificateConverter().getCertificate(b.build(signer(signingKey)));
            return new Issued(cert, pair);
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("cannot make a test certificate for " + spec.subject(), e);
        }
    }

    private X509CRL revocationList(Issued issuer, BigInteger revoked) {
        try {
            var b = new X509v2CRLBuilder(X500Name.getInstance(issuer.certificate().getSubjectX500Principal().getEncoded()),
                    Date.from(now.minus(Duration.ofHours(1))));
            b.setNextUpdate(Date.from(now.plus(validity)));
            b.addCRLEntry(revoked, Date.from(now.minus(Duration.ofMinutes(30))), CRLReason.keyCompromise);
            b.addExtension(Extension.authorityKeyIdentifier, false,
                    new JcaX509ExtensionUtils().createAuthorityKeyIdentifier(issuer.certificate()));
            return new JcaX509CRLConverter().getCRL(b.build(signer(issuer.key())));
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("cannot make the test CRL", e);
        }
    }

    private KeyPair newKeyPair() throws GeneralSecurityException {
        return switch (keyType) {
            case EC_P256 -> {
                KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
                g.initialize(new ECGenParameterSpec("secp256r1"), random);
                yield g.generateKeyPair();
            }
            case RSA_2048 -> {
                KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
                g.initialize(2048, random);
                yield g.generateKeyPair();
            }
        };
    }

    private ContentSigner signer(PrivateKey key) throws GeneralSecurityException {
        String algorithm = key.getAlgorithm().equals("RSA") ? "SHA256withRSA" : "SHA256withECDSA";
        try {
            return new JcaContentSignerBuilder(algorithm).build(key);
        } catch (org.bouncycastle.operator.OperatorCreationException e) {
            throw new GeneralSecurityException(e);
        }
    }

    private BigInteger serial() {
        return new BigInteger(63, random).add(BigInteger.ONE);
    }

    private Path mkdir(String name) {
        try {
            return Files.createDirectories(root.resolve(name));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** PEM text of a certificate, a CRL or a PemObject. */
    static String pem(Object o) {
        StringWriter out = new StringWriter();
        try (JcaPEMWriter w = new JcaPEMWriter(out)) {
            w.writeObject(o);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString();
    }

    /**
     * A private key's PEM text in {@code form}, as openssl writes it. An EC key's SEC1 structure carries its public
     * key (in PKCS#8 too: gnutls 3.7 refuses an EC key without it, and the JDK's encoding leaves it out) and, in the
     * traditional form, its curve.
     */
    public static String pem(KeyPair keys, KeyForm form) {
        try {
            PrivateKeyInfo info = PrivateKeyInfo.getInstance(keys.getPrivate().getEncoded());
            if (keys.getPrivate() instanceof ECPrivateKey ec) {
                var curve = info.getPrivateKeyAlgorithm().getParameters();
                var publicKey = SubjectPublicKeyInfo.getInstance(keys.getPublic().getEncoded()).getPublicKeyData();
                int bits = ec.getParams().getOrder().bitLength();
                if (form == KeyForm.PKCS8) {
                    var inner = new org.bouncycastle.asn1.sec.ECPrivateKey(bits, ec.getS(), publicKey, null);
                    info = new PrivateKeyInfo(info.getPrivateKeyAlgorithm(), inner);
                } else {
                    var sec1 = new org.bouncycastle.asn1.sec.ECPrivateKey(bits, ec.getS(), publicKey, curve);
                    return pem(new PemObject("EC PRIVATE KEY", sec1.getEncoded()));
                }
            }
            if (form == KeyForm.PKCS8) {
                return pem(new PemObject("PRIVATE KEY", info.getEncoded()));
            }
            return pem(new PemObject("RSA PRIVATE KEY", info.parsePrivateKey().toASN1Primitive().getEncoded()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void writeCertificates(Path file, List<X509Certificate> certs) {
        StringBuilder text = new StringBuilder();
        certs.forEach(c -> text.append(pem(c)));
        writeText(file, text.toString());
    }

    private static void writeText(Path file, String text) {
        try {
            Files.writeString(file, text);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void copy(Path from, Path to) {
        try {
            Files.copy(from, to);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
