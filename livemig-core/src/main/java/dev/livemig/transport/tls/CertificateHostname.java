package dev.livemig.transport.tls;

import org.bouncycastle.asn1.ASN1Encodable;
import org.bouncycastle.asn1.ASN1OctetString;
import org.bouncycastle.asn1.ASN1String;
import org.bouncycastle.asn1.DERIA5String;
import org.bouncycastle.asn1.x500.AttributeTypeAndValue;
import org.bouncycastle.asn1.x500.RDN;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;

import java.io.IOException;
import java.net.IDN;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Whether a server certificate is for the host a client asked for, by gnutls' rules
 * ({@code gnutls_x509_crt_check_hostname}, gnutls 3.6 and later, which QEMU calls): an IP address matches only an
 * iPAddress subjectAltName; a name matches a dNSName subjectAltName, ASCII case-insensitively, where a leading
 * {@code *} stands for part of one label and needs at least two labels after it; the common name counts only when
 * the certificate has neither kind of subjectAltName, has exactly one CN and may serve TLS servers.
 */
final class CertificateHostname {
    private static final String SUBJECT_ALT_NAME = Extension.subjectAlternativeName.getId();

    private CertificateHostname() {
    }

    /** Whether {@code cert} names {@code hostname} (a DNS name, or an IPv4 or IPv6 address literal). */
    static boolean matches(X509Certificate cert, String hostname) {
        List<GeneralName> altNames = subjectAltNames(cert);
        byte[] address = ipAddress(hostname);
        if (address != null) {
            return altNames.stream().anyMatch(n -> n.getTagNo() == GeneralName.iPAddress
                    && Arrays.equals(ASN1OctetString.getInstance(n.getName()).getOctets(), address));
        }
        String ascii = asciiHostname(hostname);
        boolean hasDnsName = false;
        boolean hasAddress = false;
        for (GeneralName n : altNames) {
            if (n.getTagNo() == GeneralName.dNSName) {
                hasDnsName = true;
                byte[] name = DERIA5String.getInstance(n.getName()).getOctets();
                if (isPrintable(name) && nameMatches(new String(name, StandardCharsets.US_ASCII), ascii)) {
                    return true;
                }
            } else if (n.getTagNo() == GeneralName.iPAddress) {
                hasAddress = true;
            }
        }
        if (hasDnsName || hasAddress || !mayServeTls(cert)) {
            return false;
        }
        List<String> commonNames = commonNames(cert);
        if (commonNames.size() != 1) {
            return false; // a CN is a host name only when it is the only one (RFC 6125, section 1.8)
        }
        byte[] cn = commonNames.getFirst().getBytes(StandardCharsets.UTF_8);
        return isPrintable(cn) && nameMatches(commonNames.getFirst(), ascii);
    }

    /**
     * gnutls' comparison of one certificate name with the host name: equal ignoring ASCII case, or a wildcard
     * certificate name ({@code *} first, two dots or more, not ending in a dot) whose {@code *} stands for any
     * run of characters of the host's first label.
     */
    static boolean nameMatches(String certName, String hostname) {
        if (!certName.startsWith("*")) {
            return equalsIgnoreAsciiCase(certName, hostname);
        }
        int lastDot = certName.lastIndexOf('.');
        if (lastDot < 0 || certName.indexOf('.') == lastDot || lastDot == certName.length() - 1) {
            return false;
        }
        String rest = certName.substring(1);
        for (int i = 0; ; i++) {
            if (equalsIgnoreAsciiCase(rest, hostname.substring(i))) {
                return true;
            }
            if (i == hostname.length() || hostname.charAt(i) == '.') {
                return false;
            }
        }
    }

    private static boolean equalsIgnoreAsciiCase(String a, String b) {
        if (a.length() != b.length()) {
            return false;
        }
        for (int i = 0; i < a.length(); i++) {
            if (upper(a.charAt(i)) != upper(b.charAt(i))) {
                return false;
            }
        }
        return true;
    }

    private static char upper(char c) {
        return c >= 'a' && c <= 'z' ? (char) (c - 'a' + 'A') : c;
    }

    /** gnutls takes names only of printable ASCII: no NUL hidden inside, nothing beyond '~'. */
    private static boolean isPrintable(byte[] name) {
        for (byte b : name) {
            if (b < 0x20 || b > 0x7e) {
                return false;
            }
        }
        return true;
    }

    /**
     * The address {@code hostname} is written as, as inet_pton reads it: strict dotted-decimal IPv4, or IPv6 when
     * it has a colon; null for a DNS name (and for a colon that is no IPv6 address, which gnutls then takes as a
     * name).
     */
    static byte[] ipAddress(String hostname) {
        if (hostname.indexOf(':') >= 0) {
            if (hostname.indexOf('%') >= 0 || hostname.indexOf('[') >= 0) {
                return null; // inet_pton knows no scope ids and no brackets
            }
            try {
                InetAddress a = Inet6Address.ofLiteral(hostname);
                return a instanceof Inet4Address v4 ? mappedToIpv6(v4.getAddress()) : a.getAddress();
            } catch (IllegalArgumentException e) {
                return null;
            }
        }
        return dottedQuad(hostname);
    }

    /** The JDK reads ::ffff:a.b.c.d as an IPv4 address; inet_pton keeps its 16 bytes. */
    private static byte[] mappedToIpv6(byte[] v4) {
        byte[] v6 = new byte[16];
        v6[10] = (byte) 0xff;
        v6[11] = (byte) 0xff;
        System.arraycopy(v4, 0, v6, 12, 4);
        return v6;
    }

    /** inet_pton's IPv4: four decimal numbers up to 255, no leading zeros. */
    private static byte[] dottedQuad(String s) {
        String[] parts = s.split("\\.", -1);
        if (parts.length != 4) {
            return null;
        }
        byte[] address = new byte[4];
        for (int i = 0; i < 4; i++) {
            String p = parts[i];
            if (p.isEmpty() || p.length() > 3 || (p.length() > 1 && p.charAt(0) == '0')
                    || !p.chars().allMatch(c -> c >= '0' && c <= '9')) {
                return null;
            }
            int v = Integer.parseInt(p);
            if (v > 255) {
                return null;
            }
            address[i] = (byte) v;
        }
        return address;
    }

    /** An internationalised name in its ACE form (as gnutls maps it with IDNA); as given when it has none. */
    private static String asciiHostname(String hostname) {
        try {
            return IDN.toASCII(hostname);
        } catch (IllegalArgumentException e) {
            return hostname;
        }
    }

    private static List<GeneralName> subjectAltNames(X509Certificate cert) {
        byte[] extension = cert.getExtensionValue(SUBJECT_ALT_NAME);
        if (extension == null) {
            return List.of();
        }
        try {
            return List.of(GeneralNames.getInstance(JcaX509ExtensionUtils.parseExtensionValue(extension)).getNames());
        } catch (IOException | IllegalArgumentException e) {
            return List.of(); // a subjectAltName gnutls cannot parse names nothing either
        }
    }

    /** No extended key usage, or one that allows TLS servers (or any purpose). */
    private static boolean mayServeTls(X509Certificate cert) {
        try {
            List<String> purposes = cert.getExtendedKeyUsage();
            return purposes == null || purposes.contains(KeyPurposeId.id_kp_serverAuth.getId())
                    || purposes.contains(KeyPurposeId.anyExtendedKeyUsage.getId());
        } catch (CertificateParsingException e) {
            return false;
        }
    }

    private static List<String> commonNames(X509Certificate cert) {
        X500Name subject = X500Name.getInstance(cert.getSubjectX500Principal().getEncoded());
        List<String> names = new ArrayList<>();
        for (RDN rdn : subject.getRDNs()) {
            for (AttributeTypeAndValue atv : rdn.getTypesAndValues()) {
                if (atv.getType().equals(BCStyle.CN)) {
                    ASN1Encodable value = atv.getValue();
                    names.add(value instanceof ASN1String s ? s.getString() : "\0"); // "\0": no text, matches nothing
                }
            }
        }
        return names;
    }
}
