package dev.livemig.transport.tls;

import org.bouncycastle.tls.AbstractTlsServer;
import org.bouncycastle.tls.AlertDescription;
import org.bouncycastle.tls.BasicTlsPSKExternal;
import org.bouncycastle.tls.KeyExchangeAlgorithm;
import org.bouncycastle.tls.NamedGroup;
import org.bouncycastle.tls.ProtocolVersion;
import org.bouncycastle.tls.PskIdentity;
import org.bouncycastle.tls.TlsFatalAlert;
import org.bouncycastle.tls.TlsPSKExternal;
import org.bouncycastle.tls.TlsPSKIdentityManager;
import org.bouncycastle.tls.crypto.DHGroup;
import org.bouncycastle.tls.crypto.TlsCrypto;
import org.bouncycastle.tls.crypto.TlsDHConfig;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.Optional;
import java.util.Vector;

/**
 * The server's side of a PSK handshake, as BouncyCastle asks it: each client's key from keys.psk, found when the
 * client names itself. What the lookup learned (the identity, that keys.psk lacks it, that keys.psk could not be
 * read) is kept for the session's messages.
 */
final class PskTlsServer extends AbstractTlsServer {
    /** gnutls's random key for a username keys.psk lacks is 16 bytes. */
    private static final int FAKE_KEY_BYTES = 16;

    private final PskKeysFile keys;
    private final DHGroup dhParams;
    /** The identity received, printable; null until known. */
    private volatile String identity;
    /** The text for an identity keys.psk lacks (a random key was used); null otherwise. */
    private volatile String unknownIdentity;
    /** Why an identity could not be looked up (keys.psk unreadable or malformed); null otherwise. */
    private volatile TlsException lookupFailure;

    PskTlsServer(TlsCrypto crypto, PskKeysFile keys, DHGroup dhParams) {
        super(crypto);
        this.keys = keys;
        this.dhParams = dhParams;
    }

    /** The client's identity, printable; null until it named itself. */
    String identity() {
        return identity;
    }

    /** What to say of an identity keys.psk lacks; null if it has it, or none came. */
    String unknownIdentity() {
        return unknownIdentity;
    }

    /** Why keys.psk could not give a key; null if it could. */
    TlsException lookupFailure() {
        return lookupFailure;
    }

    /** The keys.psk consulted, for messages. */
    String keysPath() {
        return keys.path();
    }

    @Override
    protected ProtocolVersion[] getSupportedVersions() {
        return PskCipherSuite.VERSIONS.clone();
    }

    @Override
    protected int[] getSupportedCipherSuites() {
        return PskCipherSuite.usable(getCrypto());
    }

    /** TLS 1.3: the first identity offered (gnutls and livemig clients offer one). */
    @Override
    public TlsPSKExternal getExternalPSK(@SuppressWarnings("rawtypes") Vector identities) throws IOException {
        if (identities.isEmpty()) {
            return null;
        }
        byte[] id = ((PskIdentity) identities.elementAt(0)).getIdentity();
        return new BasicTlsPSKExternal(id, getCrypto().createSecret(keyOf(id)), PskCipherSuite.PSK_PRF);
    }

    /** TLS 1.2: BouncyCastle asks when the ClientKeyExchange names the identity. */
    @Override
    public TlsPSKIdentityManager getPSKIdentityManager() {
        return new TlsPSKIdentityManager() {
            @Override
            public byte[] getHint() {
                return null; // QEMU sets none
            }

            @Override
            public byte[] getPSK(byte[] id) {
                try {
                    return keyOf(id);
                } catch (TlsException e) {
                    throw new UncheckedIOException(e); // this callback may not throw IOException
                }
            }
        };
    }

    /** PSK key exchanges need no certificate; a client that offers no key gets nowhere. */
    @Override
    public org.bouncycastle.tls.TlsCredentials getCredentials() throws IOException {
        int kx = context.getSecurityParametersHandshake().getKeyExchangeAlgorithm();
        if (kx == KeyExchangeAlgorithm.DHE_PSK || kx == KeyExchangeAlgorithm.ECDHE_PSK) {
            return null;
        }
        throw new TlsFatalAlert(AlertDescription.handshake_failure, "the client offered no pre-shared key");
    }

    /**
     * DHE-PSK: a group the client names (RFC 7919), else dh-params.pem if there is one — what gnutls does with
     * parameters QEMU gives it — else BouncyCastle's default.
     */
    @Override
    public TlsDHConfig getDHConfig() throws IOException {
        int[] offered = context.getSecurityParametersHandshake().getClientSupportedGroups();
        boolean named = offered != null && Arrays.stream(offered).anyMatch(NamedGroup::isFiniteField);
        return dhParams != null && !named ? new TlsDHConfig(dhParams) : super.getDHConfig();
    }

    @Override
    public boolean requiresCloseNotify() {
        return false;
    }

    /** The key of {@code id}, or as gnutls does for a username keys.psk lacks, a random one (noted). */
    private byte[] keyOf(byte[] id) throws TlsException {
        identity = PskSession.printable(id);
        try {
            Optional<byte[]> key = keys.serverKey(id);
            if (key.isPresent()) {
                return key.get();
            }
        } catch (TlsException e) {
            lookupFailure = e;
            throw e;
        }
        unknownIdentity = "Username " + identity + " not found in PSK file " + keys.path();
        byte[] fake = new byte[FAKE_KEY_BYTES];
        getCrypto().getSecureRandom().nextBytes(fake);
        return fake;
    }
}
