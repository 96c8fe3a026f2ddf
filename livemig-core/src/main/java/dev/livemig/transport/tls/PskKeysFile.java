package dev.livemig.transport.tls;

import dev.livemig.wire.MigrationException;

import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.Optional;

/**
 * The keys.psk of a tls-creds-psk object's dir, lines {@code username:hexkey}, read in the two ways QEMU reads it: a
 * client's key once, by QEMU itself when the credentials are created; a server's, by gnutls for each client that
 * connects, so that keys added while it listens count. Bytes are held as Latin-1 chars, so that names match byte for
 * byte, as C compares them.
 *
 * @param path the file, "dir/keys.psk" as QEMU writes it
 */
record PskKeysFile(String path) {
    /** QEMU's QCRYPTO_TLS_CREDS_PSKFILE. */
    static final String NAME = "keys.psk";
    /** gnutls refuses shorter keys (QEMU then says "The request is invalid."). */
    private static final int MIN_KEY_BYTES = 4;

    /** QEMU's lookup_key for a client's {@code username}, then gnutls's parsing of the hex key. */
    byte[] clientKey(String username) throws UserObjectException {
        String text;
        try {
            text = text();
        } catch (UserObjectException e) {
            throw new UserObjectException("Cannot read PSK file " + path + ": " + e.getMessage(), e);
        }
        String prefix = new String(username.getBytes(StandardCharsets.UTF_8), StandardCharsets.ISO_8859_1) + ":";
        for (String line : text.split("\n", -1)) {
            if (line.startsWith(prefix)) { // strncmp
                String hex = line.substring(prefix.length());
                return hexKey(hex).orElseThrow(
                        () -> new UserObjectException("Cannot set PSK client credentials: " + hexKeyError(hex)));
            }
        }
        throw new UserObjectException("Username " + MigrationException.printable(username) + " not found in PSK file "
                + path);
    }

    /**
     * The key of a client's {@code identity} as gnutls finds it for a server: the first line whose username (or
     * {@code #hex} of it) is the identity; its key after the colon, less one trailing newline or space. Empty when
     * the file has none; a TlsException when it cannot be read or the key is no key.
     */
    Optional<byte[]> serverKey(byte[] identity) throws TlsException {
        String text;
        try {
            text = text();
        } catch (UserObjectException e) {
            throw new TlsException("Cannot read PSK file " + path + ": " + e.getMessage(), e);
        }
        String wanted = new String(identity, StandardCharsets.ISO_8859_1);
        int start = 0;
        while (start < text.length()) {
            int newline = text.indexOf('\n', start);
            int end = newline < 0 ? text.length() : newline + 1;
            String line = text.substring(start, end);
            start = end;
            int colon = line.indexOf(':');
            String name = colon < 0 ? line : line.substring(0, colon);
            if (!nameMatches(name, wanted)) {
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

    private String text() throws UserObjectException {
        return new String(GlibFile.contents(path), StandardCharsets.ISO_8859_1);
    }

    private static boolean nameMatches(String name, String identity) {
        if (name.startsWith("#") && name.length() > 1) {
            String hex = name.substring(1);
            return hex.length() % 2 == 0 && isHex(hex)
                    && new String(HexFormat.of().parseHex(hex), StandardCharsets.ISO_8859_1).equals(identity);
        }
        return name.equals(identity);
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
}
