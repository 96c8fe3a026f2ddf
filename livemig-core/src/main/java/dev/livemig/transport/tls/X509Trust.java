package dev.livemig.transport.tls;

import java.security.GeneralSecurityException;
import java.security.cert.CertPathValidator;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.PKIXReason;
import java.security.cert.TrustAnchor;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The CAs of ca-cert.pem and the revocations of ca-crl.pem, and gnutls' verdict on a chain, in QEMU's words
 * (null: trusted). The chain is validated by the JDK's PKIX validator; revocation is looked up in the CRLs
 * here, as gnutls does, so that a CA without a CRL is no reason to refuse.
 */
record X509Trust(List<X509Certificate> cas, List<X509CRL> crls) {
    static final String NOT_TRUSTED = "The certificate is not trusted";
    static final String UNKNOWN_ISSUER = "The certificate hasn't got a known issuer";
    static final String REVOKED = "The certificate has been revoked";
    static final String INSECURE = "The certificate uses an insecure algorithm";

    X509Trust {
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
