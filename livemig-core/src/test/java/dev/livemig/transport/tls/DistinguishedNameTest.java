package dev.livemig.transport.tls;

import org.bouncycastle.asn1.ASN1Encodable;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.DERBMPString;
import org.bouncycastle.asn1.DERIA5String;
import org.bouncycastle.asn1.DEROctetString;
import org.bouncycastle.asn1.DERPrintableString;
import org.bouncycastle.asn1.DERSequence;
import org.bouncycastle.asn1.DERT61String;
import org.bouncycastle.asn1.DERUTF8String;
import org.bouncycastle.asn1.DERUniversalString;
import org.bouncycastle.asn1.DLSet;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.junit.jupiter.api.Test;

import javax.security.auth.x500.X500Principal;
import java.io.IOException;
import java.math.BigInteger;
import java.security.KeyPairGenerator;
import java.security.cert.X509Certificate;
import java.util.Date;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The DN string is gnutls_x509_crt_get_dn's: RDNs in the order encoded (not RFC 4514's reverse), gnutls' attribute
 * names, its escaping, and hex where it cannot or will not decode a value.
 */
class DistinguishedNameTest {
    private static final ASN1ObjectIdentifier C = new ASN1ObjectIdentifier("2.5.4.6");
    private static final ASN1ObjectIdentifier CN = new ASN1ObjectIdentifier("2.5.4.3");
    private static final ASN1ObjectIdentifier O = new ASN1ObjectIdentifier("2.5.4.10");
    private static final ASN1ObjectIdentifier UID = new ASN1ObjectIdentifier("0.9.2342.19200300.100.1.1");

    @Test
    void theClientCertificateOfQemusTlsSessionTestReadsAsItsAuthzRulesExpect() throws Exception {
        // test-crypto-tlssession.c sets C, then CN, and allows the client by "C=UK,CN=qemu"
        X509Certificate cert = certificate(new X500NameBuilder(BCStyle.INSTANCE)
                .addRDN(BCStyle.C, "UK").addRDN(BCStyle.CN, "qemu").build());
        assertEquals("C=UK,CN=qemu", DistinguishedName.format(cert.getSubjectX500Principal()));
    }

    @Test
    void rdnsAreWrittenInTheirEncodedOrderNotReversed() {
        // the JDK's string form lists the last encoded RDN first, as RFC 4514 does; gnutls does not
        var principal = new X500Principal("CN=qemu.org, L=London, ST=London, O=Red Hat, C=GB");
        assertEquals("C=GB,O=Red Hat,ST=London,L=London,CN=qemu.org", DistinguishedName.format(principal));
    }

    @Test
    void aCertificateMadeByOldCerttoolReadsAsQemusDocumentationWritesIt() {
        // certtool before 3.7.2 encoded CN first; QEMU's docs show identity=CN=laptop.example.com,O=...,C=GB
        var principal = new X500Principal("C=GB, ST=London, L=London, O=Example Org, CN=laptop.example.com");
        assertEquals("CN=laptop.example.com,O=Example Org,L=London,ST=London,C=GB", DistinguishedName.format(principal));
    }

    @Test
    void attributeTypesHaveGnutlsNames() {
        var principal = new X500Principal(
                "EMAILADDRESS=ops@example.com, UID=ops, DC=example, DC=org, SERIALNUMBER=42, SURNAME=Smith, OU=Infra, STREET=1 Road");
        assertEquals("street=1 Road,OU=Infra,surName=Smith,serialNumber=42,DC=org,DC=example,UID=ops,EMAIL=ops@example.com",
                DistinguishedName.format(principal));
    }

    @Test
    void specialCharactersAreEscapedAsGnutlsEscapesThem() {
        assertEquals("CN=a\\,b\\+c\\\"d\\\\e\\<f\\>g\\;h=i", format(rdn(CN, new DERUTF8String("a,b+c\"d\\e<f>g;h=i"))));
        assertEquals("CN=\\#x#", format(rdn(CN, new DERUTF8String("#x#"))));
        assertEquals("CN=\\  a b \\ ", format(rdn(CN, new DERUTF8String("  a b  "))));
        assertEquals("CN=\\ ", format(rdn(CN, new DERUTF8String(" "))));
        assertEquals("CN=tab\there", format(rdn(CN, new DERUTF8String("tab\there"))), "controls are not escaped");
    }

    @Test
    void theValuesOfAMultiValuedRdnAreJoinedByPlusInTheirEncodedOrder() {
        byte[] der = name(rdn(C, new DERPrintableString("UK")),
                new DLSet(new ASN1Encodable[]{ava(CN, new DERUTF8String("qemu")), ava(UID, new DERUTF8String("42"))}),
                rdn(O, new DERUTF8String("QEMU")));
        assertEquals("C=UK,CN=qemu+UID=42,O=QEMU", DistinguishedName.format(der));
        assertEquals("C=UK,CN=qemu+UID=42,O=QEMU", DistinguishedName.format(new X500Principal(der)));
    }

    @Test
    void anUnknownAttributeTypeIsItsOidWithTheHexOfItsWholeValue() {
        var unknown = new ASN1ObjectIdentifier("1.2.3.4");
        assertEquals("1.2.3.4=#0c0178,CN=x", format(rdn(unknown, new DERUTF8String("x")), rdn(CN, new DERUTF8String("x"))));
    }

    @Test
    void aValueNotOfItsAttributesTypeIsHex() {
        assertEquals("C=#0c02554b", format(rdn(C, new DERUTF8String("UK"))), "C must be a PrintableString");
        assertEquals("CN=#16046f707321", format(rdn(CN, new DERIA5String("ops!"))), "IA5String is no DirectoryString");
        assertEquals("CN=#0c03610062", format(rdn(CN, new DERUTF8String("a\0b"))), "a NUL inside");
    }

    @Test
    void directoryStringsOfTheOlderTypesBecomeUtf8WhereGnutlsConvertsThem() {
        assertEquals("CN=M\u00fcller", format(rdn(CN, new DERBMPString("M\u00fcller"))));
        assertEquals("CN=plain", format(rdn(CN, new DERT61String("plain"))));
        // teletex that is not printable ASCII, and universal strings, are hex of the content, then escaped
        assertEquals("CN=\\#4de9", format(rdn(CN, new DERT61String(new byte[]{0x4d, (byte) 0xe9}))));
        assertEquals("CN=\\#00000041", format(rdn(CN, new DERUniversalString(new byte[]{0, 0, 0, 0x41}))));
    }

    @Test
    void aBmpStringWithALoneSurrogateIsTheHexOfItsContent() {
        assertEquals("CN=\\#d800", format(rdn(CN, new DERBMPString("\uD800"))));
    }

    @Test
    void anEmptyValueIsHexUnlessItIsADirectoryStringWhichFailsTheName() {
        // gnutls 3.7.5 to 3.8.3; 3.8.4 writes "C=" instead
        assertEquals("C=#1300,CN=qemu", format(rdn(C, new DERPrintableString("")), rdn(CN, new DERUTF8String("qemu"))));
        var e = assertThrows(IllegalArgumentException.class, () -> format(rdn(CN, new DERUTF8String(""))));
        assertEquals("ASN1 parser: Value is not valid.", e.getMessage());
    }

    @Test
    void anOctetStringAttributeKeepsItsBytesButANulInItFailsTheName() {
        var localKeyId = new ASN1ObjectIdentifier("1.2.840.113549.1.9.21");
        assertEquals("1.2.840.113549.1.9.21=k\\,1", format(rdn(localKeyId, new DEROctetString("k,1".getBytes()))));
        var e = assertThrows(IllegalArgumentException.class,
                () -> format(rdn(localKeyId, new DEROctetString(new byte[]{'k', 0}))));
        assertEquals("ASN1 parser: Error in DER parsing.", e.getMessage());
    }

    @Test
    void anEmptyRdnWritesNothingButTheCommaBeforeItStays() {
        // gnutls' quirk, checked against 3.7.9: the separator is written after an RDN unless it is the last
        assertEquals("C=UK,", format(rdn(C, new DERPrintableString("UK")), new DLSet()));
        assertEquals("C=UK", format(new DLSet(), rdn(C, new DERPrintableString("UK"))));
    }

    @Test
    void aValueThatIsNoStringAtAllIsHexAndAMalformedNameIsRefused() {
        assertEquals("CN=#30030c0178", format(rdn(CN, new DERSequence(new DERUTF8String("x")))));
        var e = assertThrows(IllegalArgumentException.class, () -> DistinguishedName.format(new byte[]{0x30, 0x03, 0x31, 0x01}));
        assertEquals("ASN1 parser: Error in DER parsing.", e.getMessage());
    }

    @Test
    void anEmptyNameHasNoDistinguishedName() {
        var e = assertThrows(IllegalArgumentException.class, () -> DistinguishedName.format(new X500Principal("")));
        assertEquals("The requested data were not available.", e.getMessage());
    }

    private static String format(DLSet... rdns) {
        return DistinguishedName.format(name(rdns));
    }

    private static byte[] name(DLSet... rdns) {
        try {
            return new DERSequence(rdns).getEncoded();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private static DLSet rdn(ASN1ObjectIdentifier type, ASN1Encodable value) {
        return new DLSet(ava(type, value));
    }

    private static DERSequence ava(ASN1ObjectIdentifier type, ASN1Encodable value) {
        return new DERSequence(new ASN1Encodable[]{type, value});
    }

    private static X509Certificate certificate(X500Name subject) throws Exception {
        var keys = KeyPairGenerator.getInstance("EC").generateKeyPair();
        var now = System.currentTimeMillis();
        var holder = new JcaX509v3CertificateBuilder(subject, BigInteger.ONE, new Date(now - 60_000), new Date(now + 3_600_000),
                subject, keys.getPublic()).build(new JcaContentSignerBuilder("SHA256withECDSA").build(keys.getPrivate()));
        return new JcaX509CertificateConverter().getCertificate(holder);
    }
}
