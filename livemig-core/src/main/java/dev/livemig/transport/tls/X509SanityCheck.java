package dev.livemig.transport.tls;

import org.bouncycastle.asn1.x509.KeyPurposeId;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.List;

/**
 * QEMU's sanity checks of the endpoint's own certificate and of the CA certificates, before it loads them:
 * validity now, basic constraints, key usage and purpose (each only where the extension is critical), and that
 * the own certificate verifies against the CAs. Files that cannot be read are left to the loading after it.
 */
final class X509SanityCheck {
    /** gnutls' array for the CA list in QEMU's check holds this many. */
    private static final int MAX_CA_CERTS = 16;
    private static final String BASIC_CONSTRAINTS = "2.5.29.19";
    private static final String KEY_USAGE = "2.5.29.15";
    private static final String EXTENDED_KEY_USAGE = "2.5.29.37";
    // java.security.cert.X509Certificate#getKeyUsage bits
    private static final int DIGITAL_SIGNATURE = 0;
    private static final int KEY_ENCIPHERMENT = 2;
    private static final int KEY_CERT_SIGN = 5;

    private X509SanityCheck() {
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
            String reason = new X509Trust(cas, List.of()).reasonToDistrust(List.of(cert));
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
        } catch (CertificateParsingException e) {
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
