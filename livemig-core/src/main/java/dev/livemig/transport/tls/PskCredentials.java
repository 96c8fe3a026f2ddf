package dev.livemig.transport.tls;

import dev.livemig.json.Json;
import dev.livemig.transport.MigrationChannel;
import dev.livemig.wire.MigrationException;
import org.bouncycastle.tls.crypto.DHGroup;
import org.bouncycastle.tls.crypto.TlsCrypto;
import org.bouncycastle.tls.crypto.impl.jcajce.JcaTlsCryptoProvider;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.List;
import java.util.Optional;

/**
 * QEMU's tls-creds-psk object: TLS with a pre-shared key per username, from the file {@code keys.psk} in the
 * directory {@code dir} (lines {@code username:hexkey}). Created as QEMU creates it: a client finds its username's
 * key (default {@code qemu}) there and then; a server only checks that the file is there, and reads it anew for each
 * client that connects (gnutls does), so keys added while it listens count. Sessions are {@link PskSession}s.
 *
 * <p>What QEMU does not check of a PSK peer, neither does livemig: the identity is proven by the key alone, so an
 * authz object passed to {@link #server} is not consulted (QEMU 10.0's qcrypto_tls_session_check_credentials is a
 * no-op for PSK, and keys.psk is the list of who may connect), verify-peer changes nothing, and a client's hostname
 * is ignored. {@code priority}, a gnutls priority string, is accepted and ignored: livemig's versions and cipher
 * suites are fixed (see PskSession). Immutable; any thread. The key never appears in a message or in toString.
 */
public final class PskCredentials implements TlsCredentials {
    static final String QOM_TYPE = "tls-creds-psk";
    /** The identity a client sends when no username is set. */
    static final String DEFAULT_USERNAME = "qemu";

    private final String id;
    private final TlsEndpoint endpoint;
    private final String dir;
    private final PskKeysFile keys;
    private final String username;
    private final byte[] key;
    private final DHGroup dhParams;
    private final TlsCrypto crypto;

    private PskCredentials(String id, TlsEndpoint endpoint, String dir, PskKeysFile keys, String username, byte[] key,
                           DHGroup dhParams) {
        this.id = id;
        this.endpoint = endpoint;
        this.dir = dir;
        this.keys = keys;
        this.username = username;
        this.key = key;
        this.dhParams = dhParams;
        // the JDK's providers do the cryptography (AES-GCM on its intrinsics); BouncyCastle only speaks TLS
        this.crypto = new JcaTlsCryptoProvider().create(new SecureRandom());
    }

    /**
     * Creates the object from its properties (object-add's arguments without qom-type and id), with QEMU's checks
     * and texts: the types of verify-peer, dir, endpoint, priority and username, no other property, then loading.
     */
    public static PskCredentials create(String id, Json.Obj props) throws UserObjectException {
        Properties p = Properties.of(props);
        if (p.dir == null) {
            throw new UserObjectException("Missing 'dir' property value");
        }
        if (p.endpoint == TlsEndpoint.SERVER) {
            if (p.username != null) {
                throw new UserObjectException("username should not be set when endpoint=server");
            }
            String dhFile = CredentialsDir.file(p.dir, CredentialsDir.DH_PARAMS, false);
            var keys = new PskKeysFile(CredentialsDir.file(p.dir, PskKeysFile.NAME, true));
            DHGroup dh = dhFile != null ? Pem.dhParameters(dhFile) : null;
            return new PskCredentials(id, p.endpoint, p.dir, keys, null, null, dh);
        }
        var keys = new PskKeysFile(CredentialsDir.file(p.dir, PskKeysFile.NAME, true));
        String username = p.username != null ? p.username : DEFAULT_USERNAME;
        return new PskCredentials(id, p.endpoint, p.dir, keys, username, keys.clientKey(username), null);
    }

    @Override
    public String id() {
        return id;
    }

    @Override
    public String qomType() {
        return QOM_TYPE;
    }

    @Override
    public TlsEndpoint endpoint() {
        return endpoint;
    }

    /** The identity a client sends (its username property, or {@code qemu}); empty for server credentials. */
    public Optional<String> username() {
        return Optional.ofNullable(username);
    }

    /** A client session sending {@link #username()} and its key; {@code hostname} means nothing to PSK. */
    @Override
    public TlsSession client(MigrationChannel raw, String hostname) throws TlsException {
        requireEndpoint(TlsEndpoint.CLIENT);
        return PskSession.client(raw, crypto, username.getBytes(StandardCharsets.UTF_8), key);
    }

    /** A server session that looks each client's username up in keys.psk; {@code authz} goes unconsulted (above). */
    @Override
    public TlsSession server(MigrationChannel raw, TlsAuthz authz) throws TlsException {
        requireEndpoint(TlsEndpoint.SERVER);
        return PskSession.server(raw, crypto, keys, dhParams);
    }

    private void requireEndpoint(TlsEndpoint wanted) throws TlsException {
        if (endpoint != wanted) {
            throw new TlsException("Credentials endpoint doesn't match session");
        }
    }

    @Override
    public String toString() {
        return QOM_TYPE + " id=" + id + " endpoint=" + endpoint.qemuName() + " dir=" + MigrationException.printable(dir)
                + (username != null ? " username=" + MigrationException.printable(username) : "");
    }

    /**
     * The properties QAPI's TlsCredsPskProperties has, in its order, typed; absent ones null (endpoint: client).
     * Each value is judged where the visitor meets it, the endpoint's too, before any unexpected member is named.
     */
    private record Properties(String dir, TlsEndpoint endpoint, String username) {
        private static final List<String> NAMES = List.of("verify-peer", "dir", "endpoint", "priority", "username");

        static Properties of(Json.Obj props) throws UserObjectException {
            var in = QapiProperties.of(props);
            in.optionalBool("verify-peer");
            String dir = in.optionalString("dir").orElse(null);
            TlsEndpoint endpoint = in.optionalEnum("endpoint", TlsEndpoint::byQemuName).orElse(TlsEndpoint.CLIENT);
            in.optionalString("priority");
            String username = in.optionalString("username").orElse(null);
            in.noOtherMembers(NAMES);
            return new Properties(dir, endpoint, username);
        }
    }
}
