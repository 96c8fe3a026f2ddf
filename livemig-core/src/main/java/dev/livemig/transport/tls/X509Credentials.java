package dev.livemig.transport.tls;

import dev.livemig.json.Json;
import dev.livemig.transport.MigrationChannel;
import org.bouncycastle.asn1.ASN1Primitive;
import org.bouncycastle.asn1.ASN1Sequence;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.openssl.PEMEncryptedKeyPair;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.pkcs.PKCS8EncryptedPrivateKeyInfo;
import org.bouncycastle.util.io.pem.PemObject;
import org.bouncycastle.util.io.pem.PemReader;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509ExtendedTrustManager;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.Principal;
import java.security.Signature;
import java.security.cert.CRLException;
import java.security.cert.CertPathValidator;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.PKIXReason;
import java.security.cert.TrustAnchor;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.UnaryOperator;

/**
 * QEMU's tls-creds-x509 object on the JDK's TLS. Creation does what QEMU's does: it reads the PEM files QEMU reads
 * from {@code dir} for its endpoint, runs QEMU's sanity checks of the certificates (unless sanity-check is off) and
 * fails with QEMU's texts. Sessions verify the peer, when verify-peer is on (the default), as QEMU's
 * {@code qcrypto_tls_session_check_certificate} does: the chain during the handshake (to the CAs of ca-cert.pem,
 * not revoked by ca-crl.pem), then the presence of a certificate, the server's hostname and the client's
 * authorization once it completes. With verify-peer off nothing of the peer is checked. A server asks for a client
 * certificate but, like QEMU's, does not require one in the handshake: a client without one is refused after it,
 * with QEMU's text.
 *
 * <p>Properties are QEMU 10.0's (7.2 also has a read-only {@code loaded}). Immutable once created; sessions may be
 * opened from any thread. gnutls priority strings mean nothing to the JDK: {@code priority} is accepted and kept,
 * and the JDK's defaults for TLS 1.3 and 1.2 apply.
 */
public final class X509Credentials implements TlsCredentials {
    /** QEMU's type name. */
    public static final String QOM_TYPE = "tls-creds-x509";

    // the files QEMU reads from dir (crypto/tlscredsx509.h)
    static final String CA_CERT = "ca-cert.pem";
    static final String CA_CRL = "ca-crl.pem";
    static final String SERVER_CERT = "server-cert.pem";
    static final String SERVER_KEY = "server-key.pem";
    static final String CLIENT_CERT = "client-cert.pem";
    static final String CLIENT_KEY = "client-key.pem";
    static final String DH_PARAMS = "dh-params.pem";

    private static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};

    private final String id;
    private final Properties properties;
    private final SSLContext context;
    private final PeerVerifier verifier;

    private X509Credentials(String id, Properties properties, SSLContext context, PeerVerifier verifier) {
        this.verifier = verifier;
        this.id = id;
        this.properties = properties;
        this.context = context;
    }

    /**
     * Creates the object from the properties QMP object-add gives (without qom-type and id), reading and checking
     * its files as QEMU does when it completes the object.
     *
     * @throws UserObjectException with QEMU's text: a property of the wrong type, a file missing or unreadable, a
     *                             certificate that fails a sanity check, a key that does not match its certificate
     */
    public static X509Credentials create(String id, Json.Obj props) throws UserObjectException {
        Properties p = Properties.parse(props);
        CredentialFiles files = CredentialFiles.locate(p);
        if (p.sanityCheck()) {
            SanityCheck.run(p.endpoint(), files.caCert(), files.cert());
        }
        List<X509Certificate> cas = Pem.certificates(files.caCert(),
                reason -> "Cannot load CA certificate '" + files.caCert() + "': " + reason);
        OwnKey own = OwnKey.NONE;
        if (files.cert() != null && files.key() != null) {
            if (p.passwordid() != null) {
                // QEMU looks the password up in a secret object; livemig has no secret objects
                throw new UserObjectException("No secret with id '" + p.passwordid()
                        + "' (livemig has no secret objects: give tls-creds-x509 an unencrypted key)");
            }
            own = OwnKey.load(files.cert(), files.key());
        }
        List<X509CRL> crls = files.caCrl() == null ? List.of() : Pem.crls(files.caCrl());
        if (files.dhParams() != null) {
            Pem.requireDhParameters(files.dhParams());
        }
        PeerVerifier verifier = new PeerVerifier(new Trust(cas, crls), p.verifyPeer());
        try {
            SSLContext context = SSLContext.getInstance("TLS", "SunJSSE");
            context.init(new javax.net.ssl.KeyManager[] {own}, new javax.net.ssl.TrustManager[] {verifier}, null);
            // No TLS 1.3 session tickets, as QEMU's servers send none: a QEMU source never reads its main channel
            // without return path, and closing a socket with a ticket unread resets it, losing the stream's tail
            // at this end. The JDK sends none for sessions that would outlive a ticket's 7-day limit.
            context.getServerSessionContext().setSessionTimeout(Integer.MAX_VALUE);
            return new X509Credentials(id, p, context, verifier);
        } catch (GeneralSecurityException e) {
            throw new UserObjectException("Cannot allocate credentials: '" + e.getMessage() + "'", e);
        }
    }

    @Override
    public String id() {
        return id;
    }

    @Override
    public String qomType() {
        return QOM_TYPE;
    }

    @Override
    public TlsEndpoint endpoint() {
        return properties.endpoint();
    }

    /** Whether sessions verify their peer (the verify-peer property). */
    public boolean verifyPeer() {
        return properties.verifyPeer();
    }

    /** The directory the files came from. */
    public String dir() {
        return properties.dir();
    }

    /**
     * A client session: with verify-peer, the server's certificate must chain to a CA of ca-cert.pem, be valid now
     * and match {@code hostname}; a null hostname is refused then (QEMU's "No hostname for certificate validation").
     * All of it is checked during the handshake, so that the server learns of the refusal by an alert.
     */
    @Override
    public TlsSession client(MigrationChannel raw, String hostname) throws TlsException {
        SSLEngine engine = engine(TlsEndpoint.CLIENT);
        verifier.expect(engine, new PeerVerifier.ServerNamed(hostname));
        return new X509Session(raw, engine, session -> { });
    }

    /**
     * A server session: with verify-peer, the client must present a certificate that chains to a CA of
     * ca-cert.pem, and {@code authz} (if any) must allow its distinguished name as QEMU formats it; checked during
     * the handshake, so that the client learns of the refusal by an alert.
     */
    @Override
    public TlsSession server(MigrationChannel raw, TlsAuthz authz) throws TlsException {
        SSLEngine engine = engine(TlsEndpoint.SERVER);
        verifier.expect(engine, new PeerVerifier.ClientAllowedBy(authz));
        return new X509Session(raw, engine, session -> { });
    }

    private SSLEngine engine(TlsEndpoint side) throws TlsException {
        if (side != properties.endpoint()) {
            throw new TlsException("Credentials endpoint doesn't match session");
        }
        // no peer host: QEMU sends no server name, and a session is never resumed past the certificate checks
        SSLEngine engine = context.createSSLEngine();
        engine.setUseClientMode(side == TlsEndpoint.CLIENT);
        engine.setEnabledProtocols(PROTOCOLS);
        if (side == TlsEndpoint.SERVER) {
            // asked always, as QEMU asks; with verify-peer a client without one is refused by an alert, which
            // tells it why (QEMU refuses it after the handshake, leaving it to find a closed connection)
            if (properties.verifyPeer()) {
                engine.setNeedClientAuth(true);
            } else {
                engine.setWantClientAuth(true); // each setter replaces the other's setting
            }
        }
        return engine;
    }

    /** The peer's name as gnutls writes it; QEMU takes it even without an authz, and fails if gnutls cannot. */
    private static String distinguishedName(X509Certificate peer) throws TlsException {
        try {
            return DistinguishedName.format(peer.getSubjectX500Principal());
        } catch (IllegalArgumentException e) {
            throw new TlsException("Cannot get client distinguished name: " + e.getMessage(), e);
        }
    }

    /** The QAPI TlsCredsX509Properties, with QEMU's defaults. */
    record Properties(boolean verifyPeer, String dir, TlsEndpoint endpoint, String priority, boolean sanityCheck,
                      String passwordid) {
        /** The members, in the schema's order: the QAPI input visitor checks their types in this order. */
        private static final List<String> MEMBERS = List.of("verify-peer", "dir", "endpoint", "priority",
                "sanity-check", "passwordid");

        /** Reads the members as QEMU's QAPI input visitor does, with its texts. */
        static Properties parse(Json.Obj props) throws UserObjectException {
            boolean verifyPeer = bool(props, "verify-peer", true);
            String dir = string(props, "dir");
            String endpointName = string(props, "endpoint");
            TlsEndpoint endpoint = TlsEndpoint.CLIENT;
            if (endpointName != null) {
                endpoint = Arrays.stream(TlsEndpoint.values()).filter(e -> e.qemuName().equals(endpointName))
                        .findFirst().orElseThrow(() -> new UserObjectException(
                                "Parameter 'endpoint' does not accept value '" + endpointName + "'"));
            }
            String priority = string(props, "priority");
            boolean sanityCheck = bool(props, "sanity-check", true);
            String passwordid = string(props, "passwordid");
            for (Json.Member m : props.members()) {
                if (!MEMBERS.contains(m.name())) {
                    throw new UserObjectException("Parameter '" + m.name() + "' is unexpected");
                }
            }
            return new Properties(verifyPeer, dir, endpoint, priority, sanityCheck, passwordid);
        }

        private static String string(Json.Obj props, String name) throws UserObjectException {
            var value = props.get(name);
            if (value.isEmpty()) {
                return null;
            }
            if (!(value.get() instanceof Json.Str(String s))) {
                throw new UserObjectException("Invalid parameter type for '" + name + "', expected: string");
            }
            return s;
        }

        private static boolean bool(Json.Obj props, String name, boolean absent) throws UserObjectException {
            var value = props.get(name);
            if (value.isEmpty()) {
                return absent;
            }
            if (!(value.get() instanceof Json.Bool(boolean b))) {
                throw new UserObjectException("Invalid parameter type for '" + name + "', expected: boolean");
            }
            return b;
        }
    }

    /**
     * The files of one endpoint, as {@code qcrypto_tls_creds_get_path} finds them: "dir/name" (written as QEMU
     * writes it), null for an optional file that does not exist.
     */
    record CredentialFiles(String caCert, String caCrl, String cert, String key, String dhParams) {
        static CredentialFiles locate(Properties p) throws UserObjectException {
            if (p.endpoint() == TlsEndpoint.SERVER) {
                String caCert = path(p.dir(), CA_CERT, true);
                String caCrl = path(p.dir(), CA_CRL, false);
                String cert = path(p.dir(), SERVER_CERT, true);
                String key = path(p.dir(), SERVER_KEY, true);
                String dhParams = path(p.dir(), DH_PARAMS, false);
                return new CredentialFiles(caCert, caCrl, cert, key, dhParams);
            }
            String caCert = path(p.dir(), CA_CERT, true);
            String cert = path(p.dir(), CLIENT_CERT, false);
            String key = path(p.dir(), CLIENT_KEY, false);
            return new CredentialFiles(caCert, null, cert, key, null);
        }

        private static String path(String dir, String name, boolean required) throws UserObjectException {
            if (dir == null) {
                if (required) {
                    throw new UserObjectException("Missing 'dir' property value");
                }
                return null;
            }
            String path = dir + "/" + name;
            try {
                Files.readAttributes(Path.of(path), BasicFileAttributes.class);
                return path;
            } catch (NoSuchFileException e) {
                if (!required) {
                    return null;
                }
                throw new UserObjectException("Unable to access credentials " + path + ": No such file or directory", e);
            } catch (IOException | java.nio.file.InvalidPathException e) {
                throw new UserObjectException("Unable to access credentials " + path + ": " + Pem.reason(e), e);
            }
        }
    }

    /**
     * QEMU's sanity checks of the endpoint's own certificate and of the CA certificates, before it loads them:
     * validity now, basic constraints, key usage and purpose (each only where the extension is critical), and that
     * the own certificate verifies against the CAs. Files that cannot be read are left to the loading after it.
     */
    static final class SanityCheck {
        /** gnutls' array for the CA list in QEMU's check holds this many. */
        private static final int MAX_CA_CERTS = 16;
        private static final String BASIC_CONSTRAINTS = "2.5.29.19";
        private static final String KEY_USAGE = "2.5.29.15";
        private static final String EXTENDED_KEY_USAGE = "2.5.29.37";
        // java.security.cert.X509Certificate#getKeyUsage bits
        private static final int DIGITAL_SIGNATURE = 0;
        private static final int KEY_ENCIPHERMENT = 2;
        private static final int KEY_CERT_SIGN = 5;

        private SanityCheck() {
        }

        static void run(TlsEndpoint endpoint, String caFile, String certFile) throws UserObjectException {
            boolean isServer = endpoint == TlsEndpoint.SERVER;
            X509Certificate cert = null;
            if (certFile != null && Files.isReadable(Path.of(certFile))) {
                String text = readList(certFile);
                String which = isServer ? "server" : "client";
                cert = Pem.certificatesOf(text,
                        reason -> "Unable to import " + which + " certificate " + certFile + ": " + reason).getFirst();
            }
            List<X509Certificate> cas = List.of();
            if (Files.isReadable(Path.of(caFile))) {
                cas = caList(caFile);
            }
            if (cert != null) {
                check(cert, certFile, isServer, false);
            }
            for (X509Certificate ca : cas) {
                check(ca, caFile, isServer, true);
            }
            if (cert != null && !cas.isEmpty()) {
                String reason = new Trust(cas, List.of()).reasonToDistrust(List.of(cert));
                if (reason != null) {
                    throw new UserObjectException("Our own certificate " + certFile + " failed validation against "
                            + caFile + ": " + reason);
                }
            }
        }

        /** QEMU reads both files of the check with the same words when GLib cannot read one. */
        private static String readList(String file) throws UserObjectException {
            try {
                return Pem.read(file);
            } catch (UserObjectException e) {
                throw new UserObjectException("Cannot load CA cert list " + file + ": " + e.getMessage(), e);
            }
        }

        private static List<X509Certificate> caList(String caFile) throws UserObjectException {
            String text = readList(caFile);
            List<X509Certificate> cas;
            try {
                cas = Pem.certificates(text);
            } catch (IOException | GeneralSecurityException e) {
                throw new UserObjectException("Unable to import CA certificate list " + caFile, e);
            }
            if (cas.isEmpty() || cas.size() > MAX_CA_CERTS) {
                throw new UserObjectException("Unable to import CA certificate list " + caFile);
            }
            return cas;
        }

        private static void check(X509Certificate cert, String file, boolean isServer, boolean isCA)
                throws UserObjectException {
            String what = isCA ? "The CA certificate " : isServer ? "The server certificate " : "The client certificate ";
            long now = System.currentTimeMillis();
            if (cert.getNotAfter().getTime() < now) {
                throw new UserObjectException(what + file + " has expired");
            }
            if (cert.getNotBefore().getTime() > now) {
                throw new UserObjectException(what + file + " is not yet active");
            }
            checkBasicConstraints(cert, file, isServer, isCA);
            checkKeyUsage(cert, file, isCA);
            if (!isCA) {
                checkKeyPurpose(cert, file, isServer);
            }
        }

        private static void checkBasicConstraints(X509Certificate cert, String file, boolean isServer, boolean isCA)
                throws UserObjectException {
            if (cert.getExtensionValue(BASIC_CONSTRAINTS) == null) {
                if (isCA) {
                    throw new UserObjectException("The certificate " + file + " is missing basic constraints for a CA");
                }
            } else if (cert.getBasicConstraints() >= 0) {
                if (!isCA) {
                    throw new UserObjectException("The certificate " + file + " basic constraints show a CA, but we need"
                            + " one for a " + (isServer ? "server" : "client"));
                }
            } else if (isCA) {
                throw new UserObjectException("The certificate " + file + " basic constraints do not show a CA");
            }
        }

        private static void checkKeyUsage(X509Certificate cert, String file, boolean isCA) throws UserObjectException {
            boolean[] usage = cert.getKeyUsage();
            if (usage == null || !cert.getCriticalExtensionOIDs().contains(KEY_USAGE)) {
                return; // QEMU refuses a usage only where the extension is critical
            }
            if (isCA) {
                if (!usage[KEY_CERT_SIGN]) {
                    throw new UserObjectException("Certificate " + file + " usage does not permit certificate signing");
                }
            } else {
                if (!usage[DIGITAL_SIGNATURE]) {
                    throw new UserObjectException("Certificate " + file + " usage does not permit digital signature");
                }
                if (!usage[KEY_ENCIPHERMENT]) {
                    throw new UserObjectException("Certificate " + file + " usage does not permit key encipherment");
                }
            }
        }

        private static void checkKeyPurpose(X509Certificate cert, String file, boolean isServer)
                throws UserObjectException {
            List<String> purposes;
            try {
                purposes = cert.getExtendedKeyUsage();
            } catch (java.security.cert.CertificateParsingException e) {
                throw new UserObjectException("Unable to query certificate " + file + " key purpose: " + e.getMessage(), e);
            }
            if (purposes == null || !cert.getCriticalExtensionOIDs().contains(EXTENDED_KEY_USAGE)) {
                return; // none: any purpose; not critical: QEMU lets it pass
            }
            boolean any = purposes.contains(KeyPurposeId.anyExtendedKeyUsage.getId());
            if (isServer && !any && !purposes.contains(KeyPurposeId.id_kp_serverAuth.getId())) {
                throw new UserObjectException("Certificate " + file + " purpose does not allow use with a TLS server");
            }
            if (!isServer && !any && !purposes.contains(KeyPurposeId.id_kp_clientAuth.getId())) {
                throw new UserObjectException("Certificate " + file + " purpose does not allow use with a TLS client");
            }
        }
    }

    /**
     * The CAs of ca-cert.pem and the revocations of ca-crl.pem, and gnutls' verdict on a chain, in QEMU's words
     * (null: trusted). The chain is validated by the JDK's PKIX validator; revocation is looked up in the CRLs
     * here, as gnutls does, so that a CA without a CRL is no reason to refuse.
     */
    record Trust(List<X509Certificate> cas, List<X509CRL> crls) {
        static final String NOT_TRUSTED = "The certificate is not trusted";
        static final String UNKNOWN_ISSUER = "The certificate hasn't got a known issuer";
        static final String REVOKED = "The certificate has been revoked";
        static final String INSECURE = "The certificate uses an insecure algorithm";

        Trust {
            List<X509Certificate> authorities = List.copyOf(cas);
            cas = authorities;
            crls = crls.stream().filter(crl -> authorities.stream().anyMatch(ca -> signs(ca, crl))).toList();
        }

        /** A CRL counts only when a CA of ca-cert.pem signed it. */
        private static boolean signs(X509Certificate ca, X509CRL crl) {
            if (!ca.getSubjectX500Principal().equals(crl.getIssuerX500Principal())) {
                return false;
            }
            try {
                crl.verify(ca.getPublicKey());
                return true;
            } catch (GeneralSecurityException e) {
                return false;
            }
        }

        /** Why {@code chain} (the peer's certificate first) is not trusted, as QEMU says it; null if it is. */
        String reasonToDistrust(List<X509Certificate> chain) {
            List<X509Certificate> path = new ArrayList<>();
            for (X509Certificate c : chain) {
                if (cas.contains(c)) {
                    break; // a certificate of ca-cert.pem is trusted as it is, and so is what it signed
                }
                path.add(c);
            }
            if (path.isEmpty()) {
                return null;
            }
            String reason = null;
            try {
                Set<TrustAnchor> anchors = new HashSet<>();
                for (X509Certificate ca : cas) {
                    anchors.add(new TrustAnchor(ca, null));
                }
                PKIXParameters parameters = new PKIXParameters(anchors);
                parameters.setRevocationEnabled(false);
                CertPathValidator.getInstance("PKIX").validate(
                        CertificateFactory.getInstance("X.509").generateCertPath(path), parameters);
            } catch (CertPathValidatorException e) {
                reason = reason(e);
            } catch (GeneralSecurityException e) {
                reason = NOT_TRUSTED;
            }
            if (!INSECURE.equals(reason) && path.stream().anyMatch(this::isRevoked)) {
                return REVOKED; // gnutls' reasons rank: insecure algorithm, revoked, unknown issuer, not trusted
            }
            return reason;
        }

        private boolean isRevoked(X509Certificate cert) {
            return crls.stream().anyMatch(crl -> crl.getIssuerX500Principal().equals(cert.getIssuerX500Principal())
                    && crl.isRevoked(cert));
        }

        /** gnutls flags an expired or not yet valid certificate as invalid too: QEMU then says "not trusted". */
        private static String reason(CertPathValidatorException e) {
            if (e.getReason() == PKIXReason.NO_TRUST_ANCHOR) {
                return UNKNOWN_ISSUER;
            }
            if (e.getReason() == CertPathValidatorException.BasicReason.ALGORITHM_CONSTRAINED) {
                return INSECURE;
            }
            return NOT_TRUSTED;
        }
    }

    /**
     * The peer's chain, checked during the handshake when verify-peer is on. A refusal is a CertificateException
     * with QEMU's text, caused by a TlsException with the same text, which the session reports as it is; the JDK
     * sends the peer a bad_certificate alert.
     */
    static final class PeerVerifier extends X509ExtendedTrustManager {
        /** What a session's peer must be besides trusted: named by the host, or allowed by the authz. */
        sealed interface Expectation {
        }

        /** A server whose certificate matches {@code hostname} (null: none known, which verify-peer refuses). */
        record ServerNamed(String hostname) implements Expectation {
        }

        /** A client whose name {@code authz} allows (null: any trusted client). */
        record ClientAllowedBy(TlsAuthz authz) implements Expectation {
        }

        private final Trust trust;
        private final boolean verifyPeer;
        /** Per engine, as one context serves every session of the credentials; gone with the engine. */
        private final java.util.Map<SSLEngine, Expectation> expectations =
                java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

        PeerVerifier(Trust trust, boolean verifyPeer) {
            this.trust = trust;
            this.verifyPeer = verifyPeer;
        }

        void expect(SSLEngine engine, Expectation e) {
            expectations.put(engine, e);
        }

        /** The trust check, then QEMU's checks of the name (qcrypto_tls_session_check_certificate's order). */
        private void verify(X509Certificate[] chain, SSLEngine engine) throws CertificateException {
            verify(chain);
            if (!verifyPeer) {
                return;
            }
            try {
                Expectation expected = expectations.get(engine);
                String dn = expected instanceof ClientAllowedBy ? distinguishedName(chain[0]) : null;
                switch (expected) {
                    case ServerNamed(String hostname) when hostname == null ->
                            throw new TlsException("No hostname for certificate validation");
                    case ServerNamed(String hostname) when !CertificateHostname.matches(chain[0], hostname) ->
                            throw new TlsException("Certificate does not match the hostname " + hostname);
                    case ClientAllowedBy(TlsAuthz authz) when authz != null && !authz.isAllowed(dn) ->
                            throw new TlsException("TLS x509 authz check for " + dn + " is denied");
                    case null -> throw new TlsException("a session of these credentials was not prepared for " + engine);
                    default -> {
                    }
                }
            } catch (TlsException e) {
                throw new CertificateException(e.getMessage(), e);
            }
        }

        private void verify(X509Certificate[] chain) throws CertificateException {
            if (!verifyPeer) {
                return;
            }
            String reason = trust.reasonToDistrust(List.of(chain));
            if (reason != null) {
                throw new CertificateException(reason, new TlsException(reason));
            }
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
            verify(chain);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
            verify(chain);
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
            verify(chain, engine);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
            verify(chain, engine);
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            verify(chain);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            verify(chain);
        }

        /**
         * None: a server that names CAs in its certificate request gets no RSA certificate from a gnutls 3.7 client
         * over TLS 1.3 (QEMU 7.2's: it matches the certificate's key against the request's signature schemes, where
         * the JDK offers RSA only as RSA-PSS), while one that names none gets the client's only certificate.
         */
        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }

    /**
     * The endpoint's own certificate chain and key, offered whenever the key's type suits the handshake: like
     * gnutls with one certificate, and unlike the JDK's key managers, it does not hold back a certificate whose
     * issuer the peer did not list, so that the peer's check says why it refuses it.
     */
    static final class OwnKey extends X509ExtendedKeyManager {
        static final OwnKey NONE = new OwnKey(null, null);
        private static final String ALIAS = "own";

        private final X509Certificate[] chain;
        private final PrivateKey key;

        private OwnKey(X509Certificate[] chain, PrivateKey key) {
            this.chain = chain;
            this.key = key;
        }

        /** The certificate file (its first certificate and any chain after it) and the key that must match it. */
        static OwnKey load(String certFile, String keyFile) throws UserObjectException {
            UnaryOperator<String> because = reason -> "Cannot load certificate '" + certFile + "' & key '" + keyFile
                    + "': " + reason;
            List<X509Certificate> chain = Pem.certificates(certFile, because);
            PrivateKey key = Pem.privateKey(keyFile, because);
            if (!matches(key, chain.getFirst())) {
                throw new UserObjectException(because.apply("The certificate and the given key do not match."));
            }
            return new OwnKey(chain.toArray(X509Certificate[]::new), key);
        }

        /** Whether the certificate's public key verifies what the private key signs. */
        private static boolean matches(PrivateKey key, X509Certificate cert) {
            String algorithm = switch (key.getAlgorithm()) {
                case "RSA" -> "SHA256withRSA";
                case "EC", "ECDSA" -> "SHA256withECDSA";
                case "RSASSA-PSS" -> "RSASSA-PSS";
                default -> key.getAlgorithm(); // Ed25519, Ed448: the key's name is its signature's
            };
            byte[] probe = "livemig: does this key belong to this certificate".getBytes(StandardCharsets.US_ASCII);
            try {
                Signature signer = Signature.getInstance(algorithm);
                if (algorithm.equals("RSASSA-PSS")) {
                    signer.setParameter(new java.security.spec.PSSParameterSpec("SHA-256", "MGF1",
                            java.security.spec.MGF1ParameterSpec.SHA256, 32, 1));
                }
                signer.initSign(key);
                signer.update(probe);
                byte[] signature = signer.sign();
                signer.initVerify(cert.getPublicKey());
                signer.update(probe);
                return signer.verify(signature);
            } catch (GeneralSecurityException e) {
                return false;
            }
        }

        /** The JDK's key type names for our key: "RSA", "EC" or "EdDSA" (Ed25519, Ed448). */
        private boolean suits(String keyType) {
            if (key == null || keyType == null) {
                return false;
            }
            String ours = switch (key.getAlgorithm()) {
                case "ECDSA" -> "EC";
                case "Ed25519", "Ed448" -> "EdDSA";
                default -> key.getAlgorithm();
            };
            return ours.equalsIgnoreCase(keyType) || ours.equals("EdDSA") && keyType.startsWith("Ed");
        }

        private String choose(String[] keyTypes) {
            return keyTypes != null && Arrays.stream(keyTypes).anyMatch(this::suits) ? ALIAS : null;
        }

        @Override
        public String chooseEngineClientAlias(String[] keyTypes, Principal[] issuers, SSLEngine engine) {
            return choose(keyTypes);
        }

        @Override
        public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
            return suits(keyType) ? ALIAS : null;
        }

        @Override
        public String chooseClientAlias(String[] keyTypes, Principal[] issuers, Socket socket) {
            return choose(keyTypes);
        }

        @Override
        public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
            return suits(keyType) ? ALIAS : null;
        }

        @Override
        public String[] getClientAliases(String keyType, Principal[] issuers) {
            return suits(keyType) ? new String[] {ALIAS} : null;
        }

        @Override
        public String[] getServerAliases(String keyType, Principal[] issuers) {
            return suits(keyType) ? new String[] {ALIAS} : null;
        }

        @Override
        public X509Certificate[] getCertificateChain(String alias) {
            return ALIAS.equals(alias) && chain != null ? chain.clone() : null;
        }

        @Override
        public PrivateKey getPrivateKey(String alias) {
            return ALIAS.equals(alias) ? key : null;
        }
    }

    /**
     * Reading QEMU's PEM files. A file that cannot be used is refused with the caller's message around gnutls'
     * reason for the same case ("Base64 unexpected header error." for a file without the expected block, and so
     * on).
     */
    static final class Pem {
        static final String NO_BLOCK = "Base64 unexpected header error.";
        static final String BAD_BASE64 = "Base64 decoding error.";
        static final String BAD_DER = "ASN1 parser: Error in DER parsing.";
        static final String UNREADABLE = "Error while reading file.";

        private Pem() {
        }

        /** The text of {@code file}, or what GLib's g_file_get_contents says when it cannot read it. */
        static String read(String file) throws UserObjectException {
            Path path = Path.of(file);
            if (Files.isDirectory(path)) {
                throw new UserObjectException("Error reading file “" + file + "”: Is a directory");
            }
            try {
                return Files.readString(path, StandardCharsets.ISO_8859_1);
            } catch (IOException e) {
                throw new UserObjectException("Failed to open file “" + file + "”: " + reason(e), e);
            }
        }

        /** strerror's words for an I/O failure, where the JDK has them. */
        static String reason(Exception e) {
            if (e instanceof NoSuchFileException) {
                return "No such file or directory";
            }
            if (e instanceof AccessDeniedException) {
                return "Permission denied";
            }
            if (e instanceof FileSystemException f && f.getReason() != null) {
                return f.getReason();
            }
            return String.valueOf(e.getMessage());
        }

        /** The text of {@code file} as gnutls reads it: a failure is {@code because} of gnutls' file error. */
        private static String read(String file, UnaryOperator<String> because) throws UserObjectException {
            try {
                return read(file);
            } catch (UserObjectException e) {
                throw new UserObjectException(because.apply(UNREADABLE), e);
            }
        }

        /** Every certificate of {@code file}, at least one; a failure's message is {@code because} of the reason. */
        static List<X509Certificate> certificates(String file, UnaryOperator<String> because) throws UserObjectException {
            return certificatesOf(read(file, because), because);
        }

        /** Every certificate of a PEM text, at least one; a failure's message is {@code because} of the reason. */
        static List<X509Certificate> certificatesOf(String text, UnaryOperator<String> because) throws UserObjectException {
            try {
                List<X509Certificate> certs = certificates(text);
                if (certs.isEmpty()) {
                    throw new UserObjectException(because.apply(NO_BLOCK));
                }
                return certs;
            } catch (IOException e) {
                throw new UserObjectException(because.apply(BAD_BASE64), e);
            } catch (GeneralSecurityException e) {
                throw new UserObjectException(because.apply(BAD_DER), e);
            }
        }

        /** The CERTIFICATE (or X509 CERTIFICATE) blocks of a PEM text; other blocks are passed over. */
        static List<X509Certificate> certificates(String text) throws IOException, GeneralSecurityException {
            CertificateFactory factory = CertificateFactory.getInstance("X.509");
            List<X509Certificate> certs = new ArrayList<>();
            for (PemObject block : blocks(text)) {
                if (block.getType().equals("CERTIFICATE") || block.getType().equals("X509 CERTIFICATE")) {
                    certs.add((X509Certificate) factory.generateCertificate(new ByteArrayInputStream(block.getContent())));
                }
            }
            return certs;
        }

        /** The X509 CRL blocks of ca-crl.pem, at least one. */
        static List<X509CRL> crls(String file) throws UserObjectException {
            UnaryOperator<String> because = reason -> "Cannot load CRL '" + file + "': " + reason;
            String text = read(file, because);
            try {
                CertificateFactory factory = CertificateFactory.getInstance("X.509");
                List<X509CRL> crls = new ArrayList<>();
                for (PemObject block : blocks(text)) {
                    if (block.getType().equals("X509 CRL")) {
                        crls.add((X509CRL) factory.generateCRL(new ByteArrayInputStream(block.getContent())));
                    }
                }
                if (crls.isEmpty()) {
                    throw new UserObjectException(because.apply(NO_BLOCK));
                }
                return crls;
            } catch (IOException e) {
                throw new UserObjectException(because.apply(BAD_BASE64), e);
            } catch (CRLException | CertificateException e) {
                throw new UserObjectException(because.apply(BAD_DER), e);
            }
        }

        /**
         * The private key of a PEM key file, in any of the forms certtool and openssl write: PKCS#1 (RSA PRIVATE
         * KEY), SEC1 (EC PRIVATE KEY, perhaps after its EC PARAMETERS) or PKCS#8 (PRIVATE KEY). Encrypted keys
         * are refused: they need passwordid's secret.
         */
        static PrivateKey privateKey(String file, UnaryOperator<String> because) throws UserObjectException {
            String text = read(file, because);
            JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
            try (PEMParser parser = new PEMParser(new StringReader(text))) {
                for (Object o; (o = parser.readObject()) != null; ) {
                    switch (o) {
                        case PEMKeyPair pair -> {
                            return converter.getPrivateKey(pair.getPrivateKeyInfo());
                        }
                        case PrivateKeyInfo info -> {
                            return converter.getPrivateKey(info);
                        }
                        case PKCS8EncryptedPrivateKeyInfo ignored -> throw encrypted(because);
                        case PEMEncryptedKeyPair ignored -> throw encrypted(because);
                        default -> {
                            // EC PARAMETERS before an EC key, a certificate kept in the same file: not the key
                        }
                    }
                }
            } catch (IOException | RuntimeException e) {
                throw new UserObjectException(because.apply(BAD_BASE64), e);
            }
            throw new UserObjectException(because.apply(NO_BLOCK));
        }

        private static UserObjectException encrypted(UnaryOperator<String> because) {
            return new UserObjectException(because.apply("Decryption has failed."
                    + " (an encrypted key: livemig reads only unencrypted keys)"));
        }

        /** dh-params.pem must hold PKCS#3 DH PARAMETERS; TLS 1.3 and ECDHE do not use them, so they are not kept. */
        static void requireDhParameters(String file) throws UserObjectException {
            String text = read(file);
            UnaryOperator<String> because = reason -> "Unable to load DH parameters from " + file + ": " + reason;
            try {
                for (PemObject block : blocks(text)) {
                    if (block.getType().equals("DH PARAMETERS")) {
                        ASN1Sequence.getInstance(ASN1Primitive.fromByteArray(block.getContent()));
                        return;
                    }
                }
            } catch (IOException | IllegalArgumentException e) {
                throw new UserObjectException(because.apply(BAD_DER), e);
            }
            throw new UserObjectException(because.apply(NO_BLOCK));
        }

        private static List<PemObject> blocks(String text) throws IOException {
            List<PemObject> blocks = new ArrayList<>();
            try (Reader r = new StringReader(text); PemReader reader = new PemReader(r)) {
                for (PemObject o; (o = reader.readPemObject()) != null; ) {
                    blocks.add(o);
                }
            }
            return blocks;
        }
    }
}
