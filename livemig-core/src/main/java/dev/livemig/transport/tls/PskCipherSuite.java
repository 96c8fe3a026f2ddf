package dev.livemig.transport.tls;

import org.bouncycastle.tls.CipherSuite;
import org.bouncycastle.tls.PRFAlgorithm;
import org.bouncycastle.tls.ProtocolVersion;
import org.bouncycastle.tls.TlsUtils;
import org.bouncycastle.tls.crypto.TlsCrypto;

import java.util.Arrays;

/**
 * The cipher suites a PSK client offers and a PSK server accepts, by preference; those the JDK cannot run are
 * dropped. Why these: see {@link PskSession}.
 */
enum PskCipherSuite {
    TLS_AES_128_GCM_SHA256(CipherSuite.TLS_AES_128_GCM_SHA256),
    TLS_DHE_PSK_WITH_AES_128_GCM_SHA256(CipherSuite.TLS_DHE_PSK_WITH_AES_128_GCM_SHA256),
    TLS_DHE_PSK_WITH_AES_256_GCM_SHA384(CipherSuite.TLS_DHE_PSK_WITH_AES_256_GCM_SHA384),
    TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256(CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256);

    /** Versions, newest first. */
    static final ProtocolVersion[] VERSIONS = ProtocolVersion.TLSv13.downTo(ProtocolVersion.TLSv12);
    /** The TLS 1.3 hash gnutls binds an external PSK to. */
    static final int PSK_PRF = PRFAlgorithm.tls13_hkdf_sha256;

    final int code;

    PskCipherSuite(int code) {
        this.code = code;
    }

    static int[] usable(TlsCrypto crypto) {
        return TlsUtils.getSupportedCipherSuites(crypto, Arrays.stream(values()).mapToInt(s -> s.code).toArray());
    }

    static String name(int code) {
        return Arrays.stream(values()).filter(s -> s.code == code).map(Enum::name).findFirst()
                .orElse(String.format("0x%04x", code));
    }
}
