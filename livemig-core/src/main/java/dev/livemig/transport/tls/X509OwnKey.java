package dev.livemig.transport.tls;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.Principal;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.PSSParameterSpec;
import java.util.Arrays;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * The key manager of tls-creds-x509 sessions: the endpoint's own certificate chain and key, offered whenever the
 * key's type suits the handshake. Like gnutls with one certificate, and unlike the JDK's key managers, it does not
 * hold back a certificate whose issuer the peer did not list, so that the peer's check says why it refuses it.
 */
final class X509OwnKey extends X509ExtendedKeyManager {
    static final X509OwnKey NONE = new X509OwnKey(null, null);
    private static final String ALIAS = "own";

    private final X509Certificate[] chain;
    private final PrivateKey key;

    private X509OwnKey(X509Certificate[] chain, PrivateKey key) {
        this.chain = chain;
        this.key = key;
    }

    /** The certificate file (its first certificate and any chain after it) and the key that must match it. */
    static X509OwnKey load(String certFile, String keyFile) throws UserObjectException {
        UnaryOperator<String> because = reason -> "Cannot load certificate '" + certFile + "' & key '" + keyFile
                + "': " + reason;
        List<X509Certificate> chain = Pem.certificates(certFile, because);
        PrivateKey key = Pem.privateKey(keyFile, because);
        if (!matches(key, chain.getFirst())) {
            throw new UserObjectException(because.apply("The certificate and the given key do not match."));
        }
        return new X509OwnKey(chain.toArray(X509Certificate[]::new), key);
    }

    /** Whether the certificate's public key verifies what the private key signs. */
    private static boolean matches(PrivateKey key, X509Certificate cert) {
        String algorithm = switch (key.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC", "ECDSA" -> "SHA256withECDSA";
            case "RSASSA-PSS" -> "RSASSA-PSS";
            default -> key.getAlgorithm(); // Ed25519, Ed448: the key's name is its signature's
        };
        byte[] probe = "livemig: does this key belong to this certificate".getBytes(StandardCharsets.US_ASCII);
        try {
            Signature signer = Signature.getInstance(algorithm);
            if (algorithm.equals("RSASSA-PSS")) {
                signer.setParameter(new PSSParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, 32, 1));
            }
            signer.initSign(key);
            signer.update(probe);
            byte[] signature = signer.sign();
            signer.initVerify(cert.getPublicKey());
            signer.update(probe);
            return signer.verify(signature);
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    /** The JDK's key type names for our key: "RSA", "EC" or "EdDSA" (Ed25519, Ed448). */
    private boolean suits(String keyType) {
        if (key == null || keyType == null) {
            return false;
        }
        String ours = switch (key.getAlgorithm()) {
            case "ECDSA" -> "EC";
            case "Ed25519", "Ed448" -> "EdDSA";
            default -> key.getAlgorithm();
        };
        return ours.equalsIgnoreCase(keyType) || ours.equals("EdDSA") && keyType.startsWith("Ed");
    }

    private String choose(String[] keyTypes) {
        return keyTypes != null && Arrays.stream(keyTypes).anyMatch(this::suits) ? ALIAS : null;
    }

    @Override
    public String chooseEngineClientAlias(String[] keyTypes, Principal[] issuers, SSLEngine engine) {
        return choose(keyTypes);
    }

    @Override
    public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
        return suits(keyType) ? ALIAS : null;
    }

    @Override
    public String chooseClientAlias(String[] keyTypes, Principal[] issuers, Socket socket) {
        return choose(keyTypes);
    }

    @Override
    public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
        return suits(keyType) ? ALIAS : null;
    }

    @Override
    public String[] getClientAliases(String keyType, Principal[] issuers) {
        return suits(keyType) ? new String[] {ALIAS} : null;
    }

    @Override
    public String[] getServerAliases(String keyType, Principal[] issuers) {
        return suits(keyType) ? new String[] {ALIAS} : null;
    }

    @Override
    public X509Certificate[] getCertificateChain(String alias) {
        return ALIAS.equals(alias) && chain != null ? chain.clone() : null;
    }

    @Override
    public PrivateKey getPrivateKey(String alias) {
        return ALIAS.equals(alias) ? key : null;
    }
}
