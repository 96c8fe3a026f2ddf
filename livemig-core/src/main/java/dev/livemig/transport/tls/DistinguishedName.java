package dev.livemig.transport.tls;

import javax.security.auth.x500.X500Principal;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * The distinguished name of a certificate as QEMU hands it to an authz object: the text gnutls_x509_crt_get_dn
 * writes (gnutls 3.7 and 3.8, lib/x509/dn.c and common.c), so that identities written for QEMU match here too.
 *
 * <p>That text is not RFC 4514's: gnutls_x509_crt_get_dn keeps the DER order (its "compat" flag), so a name encoded
 * C, then CN reads "C=UK,CN=qemu", which is what QEMU's own tests allow. RDNs are joined by ',', the values of a
 * multi-valued RDN by '+', in the order encoded. Attribute types gnutls names (CN, C, O, OU, L, ST, DC, UID, EMAIL,
 * street, title, serialNumber, ...) are written by name, others as a dotted OID. A value is its string, escaped as
 * gnutls escapes ({@code ,+"\<>;} anywhere, '#' or ' ' first, ' ' last); a value of an unknown type, or one that
 * does not decode as its type, or holds a NUL, is '#' and the lowercase hex of its whole DER encoding.
 *
 * <p>Where gnutls versions differ, this follows 3.7.5 to 3.8.3 (Debian 12's 3.7.9, Ubuntu 24.04's and RHEL 9's
 * 3.8.3), checked against 3.7.9: an empty DirectoryString (CN, O, ...) fails the whole name, which 3.7.4 and older
 * hex; an empty value of another string type is hex, which 3.8.4 and later write as nothing.
 *
 * <p>An X500Principal holds the JDK's encoding of the name, which puts the values of a multi-valued RDN in DER's
 * sorted order: for a certificate that lists them otherwise, gnutls keeps the certificate's order.
 */
public final class DistinguishedName {
    /** gnutls_strerror texts, for the names gnutls_x509_crt_get_dn refuses. */
    static final String NO_NAME = "The requested data were not available.";
    static final String EMPTY_DIRECTORY_STRING = "ASN1 parser: Value is not valid.";
    static final String BAD_DER = "ASN1 parser: Error in DER parsing.";

    private static final int TELETEX = 0x14;
    private static final int PRINTABLE = 0x13;
    private static final int UNIVERSAL = 0x1c;
    private static final int UTF8 = 0x0c;
    private static final int BMP = 0x1e;
    private static final int IA5 = 0x16;
    private static final int NUMERIC = 0x12;
    private static final int OCTETS = 0x04;

    /** How gnutls decodes an attribute's value: as a DirectoryString, as the other CHOICE it knows, or as one string type. */
    private sealed interface Syntax {
    }

    private record DirectoryString() implements Syntax {
    }

    private record ChallengePassword() implements Syntax {
    }

    private record Simple(int tag) implements Syntax {
    }

    /** An attribute type of gnutls' table (common.c _oid2str): its name, if it has one, and how its value decodes. */
    private record Attribute(String name, Syntax syntax) {
    }

    private static final Map<String, Attribute> KNOWN = Map.ofEntries(
            directory("1.3.6.1.5.5.7.9.2", "placeOfBirth"),
            simple("1.3.6.1.5.5.7.9.3", "gender", PRINTABLE),
            simple("1.3.6.1.5.5.7.9.4", "countryOfCitizenship", PRINTABLE),
            simple("1.3.6.1.5.5.7.9.5", "countryOfResidence", PRINTABLE),
            simple("2.5.4.6", "C", PRINTABLE),
            directory("2.5.4.9", "street"),
            directory("2.5.4.12", "title"),
            directory("2.5.4.10", "O"),
            directory("2.5.4.11", "OU"),
            directory("2.5.4.3", "CN"),
            directory("2.5.4.7", "L"),
            directory("2.5.4.8", "ST"),
            directory("2.5.4.13", "description"),
            simple("2.5.4.5", "serialNumber", PRINTABLE),
            simple("2.5.4.20", "telephoneNumber", PRINTABLE),
            directory("2.5.4.4", "surName"),
            directory("2.5.4.43", "initials"),
            directory("2.5.4.44", "generationQualifier"),
            directory("2.5.4.42", "givenName"),
            directory("2.5.4.65", "pseudonym"),
            simple("2.5.4.46", "dnQualifier", PRINTABLE),
            directory("2.5.4.17", "postalCode"),
            directory("2.5.4.41", "name"),
            directory("2.5.4.15", "businessCategory"),
            simple("0.9.2342.19200300.100.1.25", "DC", IA5),
            directory("0.9.2342.19200300.100.1.1", "UID"),
            directory("1.2.840.113556.1.4.656", "userPrincipalName"),
            directory("1.3.6.1.4.1.311.60.2.1.1", "jurisdictionOfIncorporationLocalityName"),
            directory("1.3.6.1.4.1.311.60.2.1.2", "jurisdictionOfIncorporationStateOrProvinceName"),
            simple("1.3.6.1.4.1.311.60.2.1.3", "jurisdictionOfIncorporationCountryName", PRINTABLE),
            simple("1.2.840.113549.1.9.1", "EMAIL", IA5),
            Map.entry("1.2.840.113549.1.9.7", new Attribute(null, new ChallengePassword())),
            simple("1.2.840.113549.1.9.20", null, BMP),
            simple("1.2.840.113549.1.9.21", null, OCTETS),
            simple("1.2.840.113549.1.9.4", null, OCTETS),
            simple("1.3.6.1.5.5.7.8.5", "XmppAddr", UTF8),
            simple("1.2.643.100.1", "OGRN", NUMERIC),
            simple("1.2.643.100.3", "SNILS", NUMERIC),
            simple("1.2.643.100.5", "OGRNIP", NUMERIC),
            simple("1.2.643.3.131.1.1", "INN", NUMERIC));

    private DistinguishedName() {
    }

    /**
     * The subject or issuer name {@code p} as gnutls_x509_crt_get_dn writes it; text that is not UTF-8 (a value
     * gnutls copies byte for byte) reads with U+FFFD for its bad bytes.
     *
     * @throws IllegalArgumentException for a name gnutls refuses (no RDN at all, an empty DirectoryString, a value
     *                                  it cannot escape), with gnutls' error text, as QEMU reports it after "Cannot
     *                                  get client distinguished name: "
     */
    public static String format(X500Principal p) {
        return format(p.getEncoded());
    }

    /** {@link #format(X500Principal)} of a Name's DER encoding. */
    static String format(byte[] der) {
        Tlv name = Tlv.read(der, 0, der.length, 0x30);
        if (name.end() != der.length) {
            throw new IllegalArgumentException(BAD_DER);
        }
        var rdns = name.elements(0x31);
        if (rdns.isEmpty()) {
            throw new IllegalArgumentException(NO_NAME);
        }
        var out = new ByteArrayOutputStream();
        for (int i = 0; i < rdns.size(); i++) {
            var rdn = rdns.get(i).elements(0x30);
            for (int k = 0; k < rdn.size(); k++) {
                attribute(rdn.get(k), out);
                // an empty RDN writes nothing, not even its ',' (gnutls' append_elements)
                if (k < rdn.size() - 1) {
                    out.write('+');
                } else if (i < rdns.size() - 1) {
                    out.write(',');
                }
            }
        }
        return StandardCharsets.UTF_8.decode(ByteBuffer.wrap(out.toByteArray())).toString();
    }

    private static void attribute(Tlv typeAndValue, ByteArrayOutputStream out) {
        byte[] der = typeAndValue.der();
        Tlv type = Tlv.read(der, typeAndValue.contentStart(), typeAndValue.end(), 0x06);
        Tlv any = Tlv.read(der, type.end(), typeAndValue.end(), -1);
        if (any.end() != typeAndValue.end()) {
            throw new IllegalArgumentException(BAD_DER);
        }
        String oid = type.oid();
        byte[] value = any.bytes();
        Attribute known = KNOWN.get(oid);
        out.writeBytes(ascii(known != null && known.name() != null ? known.name() : oid));
        out.write('=');
        if (known == null) {
            out.writeBytes(hex(value));
            return;
        }
        if (known.syntax() instanceof DirectoryString && value[1] == 0) {
            throw new IllegalArgumentException(EMPTY_DIRECTORY_STRING);
        }
        byte[] text = decode(known.syntax(), value);
        out.writeBytes(text == null ? hex(value) : escape(text));
    }

    /** The string gnutls makes of a value's DER, or null where it falls back to hex. */
    private static byte[] decode(Syntax syntax, byte[] value) {
        return switch (syntax) {
            case DirectoryString d -> withoutNul(choice(value, TELETEX, PRINTABLE, UNIVERSAL, UTF8, BMP));
            case ChallengePassword c -> withoutNul(choice(value, PRINTABLE, UTF8));
            case Simple(int tag) -> simple(tag, value);
        };
    }

    /** A CHOICE of string types, decoded strictly: one of the tags, a non-empty value, nothing after it. */
    private static byte[] choice(byte[] value, int... tags) {
        byte[] content = content(value);
        if (content.length == 0) {
            return null;
        }
        for (int tag : tags) {
            if ((value[0] & 0xff) == tag) {
                return printable(tag, content);
            }
        }
        return null;
    }

    /** One string type, as asn1_decode_simple_der takes it: that tag, and not empty. */
    private static byte[] simple(int tag, byte[] value) {
        byte[] content = content(value);
        if (content.length == 0 || (value[0] & 0xff) != tag) {
            return null;
        }
        byte[] text = printable(tag, content);
        return tag == OCTETS ? text : withoutNul(text);
    }

    /** gnutls' make_printable_string: BMP becomes UTF-8, teletex stays only if it is printable ASCII, universal is hex. */
    private static byte[] printable(int tag, byte[] content) {
        return switch (tag) {
            case BMP -> {
                byte[] utf8 = ucs2ToUtf8(content);
                yield utf8 != null ? utf8 : hex(content);
            }
            case TELETEX -> printableAscii(content) ? content : hex(content);
            case UNIVERSAL -> hex(content);
            default -> content;
        };
    }

    /** gnutls' _gnutls_ucs2_to_utf8: a trailing U+0000 dropped, an odd last byte ignored, a lone surrogate refused. */
    private static byte[] ucs2ToUtf8(byte[] content) {
        int size = content.length;
        if (size > 2 && content[size - 1] == 0 && content[size - 2] == 0) {
            size -= 2;
        }
        if (size == 0) {
            return null;
        }
        try {
            var utf16 = StandardCharsets.UTF_16BE.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT);
            String s = utf16.decode(ByteBuffer.wrap(content, 0, size & ~1)).toString();
            return s.getBytes(StandardCharsets.UTF_8);
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    private static boolean printableAscii(byte[] content) {
        for (byte b : content) {
            if (b < 0x20 || b > 0x7e) {
                return false;
            }
        }
        return true;
    }

    /** gnutls refuses a decoded string with a NUL in it, and then writes the value as hex. */
    private static byte[] withoutNul(byte[] text) {
        if (text == null) {
            return null;
        }
        for (byte b : text) {
            if (b == 0) {
                return null;
            }
        }
        return text;
    }

    /** gnutls' str_escape (RFC 4514's specials, without '=' and without escaping controls). */
    private static byte[] escape(byte[] text) {
        var out = new ByteArrayOutputStream(text.length + 8);
        for (int i = 0; i < text.length; i++) {
            byte b = text[i];
            if (b == 0) {
                throw new IllegalArgumentException(BAD_DER); // only an octet-string value gets here with a NUL
            }
            boolean special = ",+\"\\<>;".indexOf(b) >= 0
                    || (i == 0 && (b == '#' || b == ' '))
                    || (i == text.length - 1 && b == ' ');
            if (special) {
                out.write('\\');
            }
            out.write(b);
        }
        return out.toByteArray();
    }

    /** The contents of a value, which {@link Tlv#read} has already found well formed. */
    private static byte[] content(byte[] value) {
        Tlv t = Tlv.read(value, 0, value.length, -1);
        return Arrays.copyOfRange(value, t.contentStart(), t.end());
    }

    private static byte[] hex(byte[] bytes) {
        return ascii("#" + HexFormat.of().formatHex(bytes));
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    private static Map.Entry<String, Attribute> directory(String oid, String name) {
        return Map.entry(oid, new Attribute(name, new DirectoryString()));
    }

    private static Map.Entry<String, Attribute> simple(String oid, String name, int tag) {
        return Map.entry(oid, new Attribute(name, new Simple(tag)));
    }

    /**
     * One DER element of {@code der}: its tag byte and where it and its contents lie. Names are read with this
     * rather than a full ASN.1 library so that every value keeps the exact bytes gnutls hexes, whatever its tag.
     */
    private record Tlv(byte[] der, int start, int contentStart, int end) {

        /** The element at {@code at}, within {@code limit}, with tag {@code expected} (-1: any tag). */
        static Tlv read(byte[] der, int at, int limit, int expected) {
            if (at >= limit) {
                throw new IllegalArgumentException(BAD_DER);
            }
            int tag = der[at] & 0xff;
            int p = at + 1;
            if ((tag & 0x1f) == 0x1f) { // high tag number: base-128 continuation bytes
                while (p < limit && (der[p] & 0x80) != 0) {
                    p++;
                }
                p++;
            }
            if (p >= limit || (expected >= 0 && tag != expected)) {
                throw new IllegalArgumentException(BAD_DER);
            }
            int first = der[p++] & 0xff;
            long length = first;
            if (first >= 0x80) {
                int n = first & 0x7f;
                if (n == 0 || n > 4 || p + n > limit) {
                    throw new IllegalArgumentException(BAD_DER); // indefinite or absurd
                }
                length = 0;
                for (int i = 0; i < n; i++) {
                    length = (length << 8) | (der[p++] & 0xff);
                }
            }
            if (length > limit - p) {
                throw new IllegalArgumentException(BAD_DER);
            }
            return new Tlv(der, at, p, p + (int) length);
        }

        /** The elements this one contains, each with tag {@code tag}. */
        List<Tlv> elements(int tag) {
            var list = new ArrayList<Tlv>();
            for (int at = contentStart; at < end; ) {
                Tlv e = read(der, at, end, tag);
                list.add(e);
                at = e.end();
            }
            return list;
        }

        /** The whole encoding, tag and length included. */
        byte[] bytes() {
            return Arrays.copyOfRange(der, start, end);
        }

        /** An OBJECT IDENTIFIER's dotted text. */
        String oid() {
            if (contentStart == end || (der[end - 1] & 0x80) != 0) {
                throw new IllegalArgumentException(BAD_DER);
            }
            var text = new StringBuilder();
            long arc = 0;
            for (int i = contentStart; i < end; i++) {
                if (arc > (Long.MAX_VALUE >> 7)) {
                    throw new IllegalArgumentException(BAD_DER);
                }
                arc = (arc << 7) | (der[i] & 0x7f);
                if ((der[i] & 0x80) == 0) {
                    if (text.isEmpty()) {
                        int top = arc < 40 ? 0 : arc < 80 ? 1 : 2;
                        text.append(top).append('.').append(arc - 40L * top);
                    } else {
                        text.append('.').append(arc);
                    }
                    arc = 0;
                }
            }
            return text.toString();
        }
    }
}
