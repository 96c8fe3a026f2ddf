package dev.livemig.transport.tls;

import dev.livemig.wire.MigrationException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * The {@code dir} of a tls-creds object, where QEMU's crypto/tlscreds.c finds the files of both kinds of credentials
 * (qcrypto_tls_creds_get_path), with its texts.
 */
final class CredentialsDir {
    /** QEMU's QCRYPTO_TLS_CREDS_DH_PARAMS: DH parameters (PKCS#3 PEM) a server may use, x509 or PSK. */
    static final String DH_PARAMS = "dh-params.pem";

    private CredentialsDir() {
    }

    /**
     * The file {@code name} of {@code dir}, as "dir/name" (QEMU joins them as text: dir "" names "/name", "d/" names
     * "d//name"); null for an optional file that does not exist, or for any file when there is no dir and it is
     * optional. A file that is required, or that cannot be looked at (stat), is an error in QEMU's words.
     */
    static String file(String dir, String name, boolean required) throws UserObjectException {
        if (dir == null) {
            if (required) {
                throw new UserObjectException("Missing 'dir' property value");
            }
            return null;
        }
        String path = dir + "/" + name;
        try {
            Files.readAttributes(Path.of(path), BasicFileAttributes.class);
            return path;
        } catch (NoSuchFileException e) {
            if (!required) {
                return null;
            }
            throw inaccessible(path, e);
        } catch (IOException | InvalidPathException e) {
            throw inaccessible(path, e);
        }
    }

    private static UserObjectException inaccessible(String path, Exception e) {
        return new UserObjectException("Unable to access credentials " + MigrationException.printable(path) + ": "
                + GlibFile.strerror(e), e);
    }
}
