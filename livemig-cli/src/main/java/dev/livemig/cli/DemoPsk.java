package dev.livemig.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.HexFormat;

/**
 * The demo's TLS credentials: a fresh 256-bit key under QEMU's default PSK username, in a keys.psk of a directory only
 * this user can read, removed when the demo exits. Both ends' tls-creds-psk objects point at it.
 */
final class DemoPsk {
    private DemoPsk() {
    }

    static Path create() throws IOException {
        Path dir = Files.createTempDirectory("livemig-demo-psk", PosixFilePermissions.asFileAttribute(
                PosixFilePermissions.fromString("rwx------")));
        byte[] key = new byte[32];
        new SecureRandom().nextBytes(key);
        Path keys = dir.resolve("keys.psk");
        Files.writeString(keys, "qemu:" + HexFormat.of().formatHex(key) + "\n");
        dir.toFile().deleteOnExit();
        keys.toFile().deleteOnExit(); // deleted first: the JVM deletes in the reverse order of these calls
        return dir;
    }
}
