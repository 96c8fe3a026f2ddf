package dev.livemig.transport.tls;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;
import java.net.Socket;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * The trust manager of tls-creds-x509 sessions: the peer's chain, then its name as QEMU checks it, are checked
 * during the handshake when verify-peer is on, so that a refused peer learns of it by an alert. A refusal is a
 * CertificateException with QEMU's text, caused by a TlsException with the same text, which the session reports as
 * it is; the JDK sends the peer a bad_certificate alert.
 */
final class X509PeerVerifier extends X509ExtendedTrustManager {
    /** What a session's peer must be besides trusted: named by the host, or allowed by the authz. */
    sealed interface Expectation {
    }

    /** A server whose certificate matches {@code hostname} (null: none known, which verify-peer refuses). */
    record ServerNamed(String hostname) implements Expectation {
    }

    /** A client whose name {@code authz} allows (null: any trusted client). */
    record ClientAllowedBy(TlsAuthz authz) implements Expectation {
    }

    private final X509Trust trust;
    private final boolean verifyPeer;
    /** Per engine, as one context serves every session of the credentials; gone with the engine. */
    private final Map<SSLEngine, Expectation> expectations = Collections.synchronizedMap(new WeakHashMap<>());

    X509PeerVerifier(X509Trust trust, boolean verifyPeer) {
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

    /** The peer's name as gnutls writes it; QEMU takes it even without an authz, and fails if gnutls cannot. */
    private static String distinguishedName(X509Certificate peer) throws TlsException {
        try {
            return DistinguishedName.format(peer.getSubjectX500Principal());
        } catch (IllegalArgumentException e) {
            throw new TlsException("Cannot get client distinguished name: " + e.getMessage(), e);
        }
    }
}
