package dev.livemig.transport.tls;

import org.bouncycastle.tls.AbstractTlsClient;
import org.bouncycastle.tls.AlertDescription;
import org.bouncycastle.tls.BasicTlsPSKExternal;
import org.bouncycastle.tls.BasicTlsPSKIdentity;
import org.bouncycastle.tls.ProtocolVersion;
import org.bouncycastle.tls.TlsAuthentication;
import org.bouncycastle.tls.TlsFatalAlert;
import org.bouncycastle.tls.TlsPSKExternal;
import org.bouncycastle.tls.TlsPSKIdentity;
import org.bouncycastle.tls.crypto.TlsCrypto;

import java.io.IOException;
import java.util.Vector;

/**
 * The client's side of a PSK handshake, as BouncyCastle asks it: username and key as a TLS 1.3 external PSK and a
 * TLS 1.2 PSK identity.
 */
final class PskTlsClient extends AbstractTlsClient {
    private final byte[] identity;
    private final byte[] key;

    PskTlsClient(TlsCrypto crypto, byte[] identity, byte[] key) {
        super(crypto);
        this.identity = identity.clone();
        this.key = key.clone();
    }

    @Override
    protected ProtocolVersion[] getSupportedVersions() {
        return PskCipherSuite.VERSIONS.clone();
    }

    @Override
    protected int[] getSupportedCipherSuites() {
        return PskCipherSuite.usable(getCrypto());
    }

    @Override
    public Vector<TlsPSKExternal> getExternalPSKs() {
        var psks = new Vector<TlsPSKExternal>();
        psks.add(new BasicTlsPSKExternal(identity, getCrypto().createSecret(key), PskCipherSuite.PSK_PRF));
        return psks;
    }

    @Override
    public TlsPSKIdentity getPSKIdentity() {
        return new BasicTlsPSKIdentity(identity, key);
    }

    /** Called only when a server sends a certificate instead of taking the key. */
    @Override
    public TlsAuthentication getAuthentication() throws IOException {
        throw new TlsFatalAlert(AlertDescription.handshake_failure,
                "the server authenticates with a certificate, not with a pre-shared key (tls-creds-x509?)");
    }

    @Override
    public boolean requiresCloseNotify() {
        return false;
    }
}
