package dev.livemig.transport.tls;

import org.bouncycastle.asn1.pkcs.DHParameter;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.PEMEncryptedKeyPair;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.pkcs.PKCS8EncryptedPrivateKeyInfo;
import org.bouncycastle.tls.crypto.DHGroup;
import org.bouncycastle.util.io.pem.PemObject;
import org.bouncycastle.util.io.pem.PemReader;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.cert.CRLException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * Reading QEMU's PEM files: the certificates, CRLs and keys of tls-creds-x509, the DH parameters of either kind of
 * credentials. A file that cannot be used is refused with the caller's message around gnutls' reason for the same
 * case ("Base64 unexpected header error." for a file without the expected block, and so on).
 */
final class Pem {
    static final String NO_BLOCK = "Base64 unexpected header error.";
    static final String BAD_BASE64 = "Base64 decoding error.";
    static final String BAD_DER = "ASN1 parser: Error in DER parsing.";
    static final String UNREADABLE = "Error while reading file.";

    private Pem() {
    }

    /** The text of {@code file}, or what GLib's g_file_get_contents says when it cannot read it. */
    static String read(String file) throws UserObjectException {
        return new String(GlibFile.contents(file), StandardCharsets.ISO_8859_1);
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

    /**
     * dh-params.pem as QEMU loads it for either kind of credentials (qcrypto_tls_creds_get_dh_params_file, with
     * gnutls_dh_params_import_pkcs3): a PEM "DH PARAMETERS" block holding a PKCS#3 DHParameter.
     */
    static DHGroup dhParameters(String file) throws UserObjectException {
        String text = read(file);
        UnaryOperator<String> because = reason -> "Unable to load DH parameters from " + file + ": " + reason;
        String begin = "-----BEGIN DH PARAMETERS-----";
        String end = "-----END DH PARAMETERS-----";
        int from = text.indexOf(begin);
        int to = from < 0 ? -1 : text.indexOf(end, from);
        if (from < 0 || to < 0) {
            throw new UserObjectException(because.apply(NO_BLOCK));
        }
        byte[] der;
        try {
            der = Base64.getMimeDecoder().decode(text.substring(from + begin.length(), to).strip());
        } catch (IllegalArgumentException e) {
            throw new UserObjectException(because.apply(BAD_BASE64), e);
        }
        try {
            DHParameter p = DHParameter.getInstance(der);
            int l = p.getL() == null ? 0 : p.getL().intValueExact();
            return new DHGroup(p.getP(), null, p.getG(), l);
        } catch (RuntimeException e) {
            throw new UserObjectException(because.apply(BAD_DER), e);
        }
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
