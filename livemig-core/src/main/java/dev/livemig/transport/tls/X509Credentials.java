package dev.livemig.transport.tls;

import dev.livemig.json.Json;
import dev.livemig.transport.MigrationChannel;

import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import java.security.GeneralSecurityException;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.util.List;

/**
 * QEMU's tls-creds-x509 object on the JDK's TLS. Creation does what QEMU's does: it reads the PEM files QEMU reads
 * from {@code dir} for its endpoint, runs QEMU's sanity checks of the certificates (unless sanity-check is off) and
 * fails with QEMU's texts. Sessions verify the peer, when verify-peer is on (the default), as QEMU's
 * {@code qcrypto_tls_session_check_certificate} does: the chain during the handshake (to the CAs of ca-cert.pem,
 * not revoked by ca-crl.pem), then the presence of a certificate, the server's hostname and the client's
 * authorization once it completes. With verify-peer off nothing of the peer is checked. A server always asks for a
 * client certificate, as QEMU's does; with verify-peer it requires one in the handshake, so that a client without
 * one is refused by an alert that tells it why (QEMU refuses it after the handshake).
 *
 * <p>Properties are QEMU 10.0's (7.2 also has a read-only {@code loaded}). Immutable once created; sessions may be
 * opened from any thread. gnutls priority strings mean nothing to the JDK: {@code priority} is accepted and kept,
 * and the JDK's defaults for TLS 1.3 and 1.2 apply.
 */
public final class X509Credentials implements TlsCredentials {
    /** QEMU's type name. */
    public static final String QOM_TYPE = "tls-creds-x509";

    private static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};

    private final String id;
    private final Properties properties;
    private final SSLContext context;
    private final X509PeerVerifier verifier;

    private X509Credentials(String id, Properties properties, SSLContext context, X509PeerVerifier verifier) {
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
        X509CredentialFiles files = X509CredentialFiles.locate(p.endpoint(), p.dir());
        if (p.sanityCheck()) {
            X509SanityCheck.run(p.endpoint(), files.caCert(), files.cert());
        }
        List<X509Certificate> cas = Pem.certificates(files.caCert(),
                reason -> "Cannot load CA certificate '" + files.caCert() + "': " + reason);
        X509OwnKey own = X509OwnKey.NONE;
        if (files.cert() != null && files.key() != null) {
            if (p.passwordid() != null) {
                // QEMU looks the password up in a secret object; livemig has no secret objects
                throw new UserObjectException("No secret with id '" + p.passwordid()
                        + "' (livemig has no secret objects: give tls-creds-x509 an unencrypted key)");
            }
            own = X509OwnKey.load(files.cert(), files.key());
        }
        List<X509CRL> crls = files.caCrl() == null ? List.of() : Pem.crls(files.caCrl());
        if (files.dhParams() != null) {
            Pem.dhParameters(files.dhParams()); // checked, as QEMU does; TLS 1.3 and ECDHE do not use them
        }
        X509PeerVerifier verifier = new X509PeerVerifier(new X509Trust(cas, crls), p.verifyPeer());
        try {
            SSLContext context = SSLContext.getInstance("TLS", "SunJSSE");
            context.init(new KeyManager[] {own}, new TrustManager[] {verifier}, null);
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
        verifier.expect(engine, new X509PeerVerifier.ServerNamed(hostname));
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
        verifier.expect(engine, new X509PeerVerifier.ClientAllowedBy(authz));
        return new X509Session(raw, engine, session -> { });
    }

    /**
     * The JDK's suites with AES-128-GCM ahead of the rest: a migration moves gigabytes through one session, and AES-128
     * runs 10 rounds to AES-256's 14 (gnutls' clients, QEMU's, offer AES-256 first); the others stay, in their order.
     */
    static String[] fastestFirst(String[] suites) {
        var ordered = new java.util.ArrayList<String>();
        for (String s : suites) {
            if (s.contains("AES_128_GCM")) {
                ordered.add(s);
            }
        }
        for (String s : suites) {
            if (!s.contains("AES_128_GCM")) {
                ordered.add(s);
            }
        }
        return ordered.toArray(String[]::new);
    }

    private SSLEngine engine(TlsEndpoint side) throws TlsException {
        if (side != properties.endpoint()) {
            throw new TlsException("Credentials endpoint doesn't match session");
        }
        // no peer host: QEMU sends no server name, and a session is never resumed past the certificate checks
        SSLEngine engine = context.createSSLEngine();
        engine.setUseClientMode(side == TlsEndpoint.CLIENT);
        engine.setEnabledProtocols(PROTOCOLS);
        engine.setEnabledCipherSuites(fastestFirst(engine.getEnabledCipherSuites()));
        var parameters = engine.getSSLParameters();
        parameters.setUseCipherSuitesOrder(true); // a server picks by its order, not by the client's
        engine.setSSLParameters(parameters);
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

    /** The QAPI TlsCredsX509Properties, with QEMU's defaults. */
    record Properties(boolean verifyPeer, String dir, TlsEndpoint endpoint, String priority, boolean sanityCheck,
                      String passwordid) {
        /** The members, in the schema's order: the QAPI input visitor checks their types in this order. */
        private static final List<String> MEMBERS = List.of("verify-peer", "dir", "endpoint", "priority",
                "sanity-check", "passwordid");

        /** Reads the members as QEMU's QAPI input visitor does, with its texts. */
        static Properties parse(Json.Obj props) throws UserObjectException {
            var in = QapiProperties.of(props);
            boolean verifyPeer = in.optionalBool("verify-peer").orElse(true);
            String dir = in.optionalString("dir").orElse(null);
            TlsEndpoint endpoint = in.optionalEnum("endpoint", TlsEndpoint::byQemuName).orElse(TlsEndpoint.CLIENT);
            String priority = in.optionalString("priority").orElse(null);
            boolean sanityCheck = in.optionalBool("sanity-check").orElse(true);
            String passwordid = in.optionalString("passwordid").orElse(null);
            in.noOtherMembers(MEMBERS);
            return new Properties(verifyPeer, dir, endpoint, priority, sanityCheck, passwordid);
        }
    }
}
