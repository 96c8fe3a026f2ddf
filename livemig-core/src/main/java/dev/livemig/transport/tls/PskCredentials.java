package dev.livemig.transport.tls;

import dev.livemig.json.Json;
import dev.livemig.transport.MigrationChannel;
import dev.livemig.wire.MigrationException;
import org.bouncycastle.asn1.pkcs.DHParameter;
import org.bouncycastle.tls.crypto.DHGroup;
import org.bouncycastle.tls.crypto.TlsCrypto;
import org.bouncycastle.tls.crypto.impl.jcajce.JcaTlsCryptoProvider;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HexFormat;
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
    /** QEMU's QCRYPTO_TLS_CREDS_PSKFILE. */
    static final String PSK_FILE = "keys.psk";
    /** QEMU's QCRYPTO_TLS_CREDS_DH_PARAMS: DH parameters (PKCS#3 PEM) a server may use for DHE-PSK. */
    static final String DH_PARAMS_FILE = "dh-params.pem";
    /** The identity a client sends when no username is set. */
    static final String DEFAULT_USERNAME = "qemu";
    /** gnutls refuses shorter keys (QEMU then says "The request is invalid."). */
    private static final int MIN_KEY_BYTES = 4;

    private final String id;
    private final TlsEndpoint endpoint;
    private final String dir;
    private final Path pskFile;
    private final String username;
    private final byte[] key;
    private final DHGroup dhParams;
    private final TlsCrypto crypto;

    private PskCredentials(String id, TlsEndpoint endpoint, String dir, String username, byte[] key, DHGroup dhParams) {
        this.id = id;
        this.endpoint = endpoint;
        this.dir = dir;
        this.pskFile = pskFile(dir);
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
        Path pskFile;
        try {
            pskFile = pskFile(p.dir);
        } catch (InvalidPathException e) {
            throw new UserObjectException("Unable to access credentials " + MigrationException.printable(e.getInput())
                    + ": " + e.getReason(), e);
        }
        if (p.endpoint == TlsEndpoint.SERVER) {
            if (p.username != null) {
                throw new UserObjectException("username should not be set when endpoint=server");
            }
            Path dhFile = Path.of(p.dir + "/" + DH_PARAMS_FILE);
            boolean hasDhParams = access(dhFile, false);
            access(pskFile, true);
            DHGroup dh = hasDhParams ? dhParams(dhFile) : null;
            return new PskCredentials(id, p.endpoint, p.dir, null, null, dh);
        }
        access(pskFile, true);
        String username = p.username != null ? p.username : DEFAULT_USERNAME;
        return new PskCredentials(id, p.endpoint, p.dir, username, clientKey(pskFile, username), null);
    }

    /** QEMU joins directory and name as text: dir "" names /keys.psk. */
    private static Path pskFile(String dir) {
        return Path.of(dir + "/" + PSK_FILE);
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
        return PskSession.server(raw, crypto, new KeysFile(pskFile), dhParams);
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

    /** The properties QAPI's TlsCredsPskProperties has, in its order, typed; absent ones null (endpoint: client). */
    private record Properties(String dir, TlsEndpoint endpoint, String username) {
        private static final List<String> NAMES = List.of("verify-peer", "dir", "endpoint", "priority", "username");

        static Properties of(Json.Obj props) throws UserObjectException {
            for (String name : NAMES) {
                Optional<Json> value = props.get(name);
                boolean typed = value.isEmpty() || (name.equals("verify-peer") ? value.get() instanceof Json.Bool
                        : value.get() instanceof Json.Str);
                if (!typed) {
                    throw new UserObjectException("Invalid parameter type for '" + name + "', expected: "
                            + (name.equals("verify-peer") ? "boolean" : "string"));
                }
            }
            for (Json.Member m : props.members()) {
                if (!NAMES.contains(m.name())) {
                    throw new UserObjectException("Parameter '" + MigrationException.printable(m.name())
                            + "' is unexpected");
                }
            }
            return new Properties(props.get("dir").map(Json::asString).orElse(null),
                    endpoint(props.get("endpoint").map(Json::asString).orElse(TlsEndpoint.CLIENT.qemuName())),
                    props.get("username").map(Json::asString).orElse(null));
        }

        private static TlsEndpoint endpoint(String value) throws UserObjectException {
            for (TlsEndpoint e : TlsEndpoint.values()) {
                if (e.qemuName().equals(value)) {
                    return e;
                }
            }
            throw new UserObjectException("Parameter 'endpoint' does not accept value '"
                    + MigrationException.printable(value) + "'");
        }
    }

    /**
     * QEMU's qcrypto_tls_creds_get_path: whether {@code file} is there (stat); a file that is required, or that
     * cannot be looked at, is an error in QEMU's words.
     */
    private static boolean access(Path file, boolean required) throws UserObjectException {
        try {
            Files.readAttributes(file, BasicFileAttributes.class);
            return true;
        } catch (NoSuchFileException e) {
            if (!required) {
                return false;
            }
            throw new UserObjectException("Unable to access credentials " + file + ": " + strerror(e), e);
        } catch (IOException e) {
            throw new UserObjectException("Unable to access credentials " + file + ": " + strerror(e), e);
        }
    }

    /** QEMU's lookup_key, then gnutls's parsing of the hex key. */
    private static byte[] clientKey(Path pskFile, String username) throws UserObjectException {
        byte[] content;
        try {
            content = Files.readAllBytes(pskFile);
        } catch (IOException e) {
            throw new UserObjectException("Cannot read PSK file " + pskFile + ": " + glibReadError(pskFile, e), e);
        }
        // bytes held as Latin-1 chars, so that a username matches byte for byte, as strncmp does
        String prefix = new String(username.getBytes(StandardCharsets.UTF_8), StandardCharsets.ISO_8859_1) + ":";
        for (String line : new String(content, StandardCharsets.ISO_8859_1).split("\n", -1)) {
            if (line.startsWith(prefix)) {
                String hex = line.substring(prefix.length());
                return hexKey(hex).orElseThrow(
                        () -> new UserObjectException("Cannot set PSK client credentials: " + hexKeyError(hex)));
            }
        }
        throw new UserObjectException("Username " + MigrationException.printable(username) + " not found in PSK file "
                + pskFile);
    }

    /**
     * A key as gnutls reads keys.psk: hex digits only (either case), an even number of them, at least
     * {@link #MIN_KEY_BYTES} bytes; empty if it is not one.
     */
    static Optional<byte[]> hexKey(String text) {
        return hexKeyError(text) == null ? Optional.of(HexFormat.of().parseHex(text)) : Optional.empty();
    }

    /** What gnutls says of a key that is not one (gnutls_strerror of its error), or null for a good key. */
    private static String hexKeyError(String text) {
        if (text.length() % 2 != 0 || !isHex(text)) {
            return "Error in parsing.";
        }
        return text.length() / 2 < MIN_KEY_BYTES ? "The request is invalid." : null;
    }

    private static boolean isHex(CharSequence text) {
        return text.chars().allMatch(c -> (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'));
    }

    /**
     * keys.psk as a server reads it for each client, as gnutls does: the first line whose username (or
     * {@code #hex} of it) is the identity; its key after the colon, less one trailing newline or space.
     */
    private record KeysFile(Path path) implements PskSession.ServerKeys {
        @Override
        public Optional<byte[]> key(byte[] identity) throws TlsException {
            byte[] content;
            try {
                content = Files.readAllBytes(path);
            } catch (IOException e) {
                throw new TlsException("Cannot read PSK file " + path + ": " + glibReadError(path, e), e);
            }
            String wanted = new String(identity, StandardCharsets.ISO_8859_1);
            String text = new String(content, StandardCharsets.ISO_8859_1);
            int start = 0;
            while (start < text.length()) {
                int newline = text.indexOf('\n', start);
                int end = newline < 0 ? text.length() : newline + 1;
                String line = text.substring(start, end);
                start = end;
                int colon = line.indexOf(':');
                String name = colon < 0 ? line : line.substring(0, colon);
                if (!matches(name, wanted)) {
                    continue;
                }
                String hex = colon < 0 ? "" : line.substring(colon + 1);
                if (hex.endsWith("\n") || hex.endsWith(" ")) {
                    hex = hex.substring(0, hex.length() - 1);
                }
                String user = MigrationException.quote(wanted);
                return Optional.of(hexKey(hex).orElseThrow(() -> new TlsException("Error in password/key file: the"
                        + " key of username " + user + " in PSK file " + path + " is no hex key")));
            }
            return Optional.empty();
        }

        private static boolean matches(String name, String identity) {
            if (name.startsWith("#") && name.length() > 1) {
                String hex = name.substring(1);
                return hex.length() % 2 == 0 && isHex(hex)
                        && new String(HexFormat.of().parseHex(hex), StandardCharsets.ISO_8859_1).equals(identity);
            }
            return name.equals(identity);
        }
    }

    /**
     * dh-params.pem as QEMU loads it with gnutls_dh_params_import_pkcs3: a PEM "DH PARAMETERS" block holding PKCS#3
     * DHParameter; refused with gnutls's words.
     */
    private static DHGroup dhParams(Path file) throws UserObjectException {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            throw new UserObjectException(glibReadError(file, e), e);
        }
        String begin = "-----BEGIN DH PARAMETERS-----";
        String end = "-----END DH PARAMETERS-----";
        int from = text.indexOf(begin);
        int to = from < 0 ? -1 : text.indexOf(end, from);
        if (from < 0 || to < 0) {
            throw dhError(file, "Base64 unexpected header error.", null);
        }
        byte[] der;
        try {
            der = Base64.getMimeDecoder().decode(text.substring(from + begin.length(), to).strip());
        } catch (IllegalArgumentException e) {
            throw dhError(file, "Base64 decoding error.", e);
        }
        try {
            DHParameter p = DHParameter.getInstance(der);
            int l = p.getL() == null ? 0 : p.getL().intValueExact();
            return new DHGroup(p.getP(), null, p.getG(), l);
        } catch (RuntimeException e) {
            throw dhError(file, "ASN1 parser: Error in DER parsing.", e);
        }
    }

    private static UserObjectException dhError(Path file, String gnutlsText, Exception cause) {
        return new UserObjectException("Unable to load DH parameters from " + file + ": " + gnutlsText, cause);
    }

    /** The text glib's g_file_get_contents gives for a file it cannot read. */
    private static String glibReadError(Path file, IOException e) {
        boolean opening = e instanceof NoSuchFileException || e instanceof AccessDeniedException;
        String verb = opening ? "Failed to open" : "Error reading";
        return verb + " file “" + file + "”: " + strerror(e);
    }

    /** The C library's text for the error under an IOException, as QEMU's messages end with it. */
    private static String strerror(IOException e) {
        return switch (e) {
            case NoSuchFileException _ -> "No such file or directory";
            case AccessDeniedException _ -> "Permission denied";
            case FileSystemException f when f.getReason() != null -> f.getReason();
            default -> MigrationException.reason(e);
        };
    }
}
