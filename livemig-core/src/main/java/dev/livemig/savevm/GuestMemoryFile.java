package dev.livemig.savevm;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/**
 * A file that holds guest memory (a snapshot, a recording): written beside its final name, readable by its
 * owner only (0600, as QEMU creates migration files), and renamed into place only once it is on disk, so a
 * crash leaves the old file or the complete new one, never a truncated one under the final name.
 */
public final class GuestMemoryFile {
    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");

    private GuestMemoryFile() {
    }

    /** The partial file for {@code file}, created or truncated, owner-only whatever the umask or an old copy said. */
    public static FileChannel openPartial(Path partial) throws IOException {
        boolean posix = FileSystems.getDefault().supportedFileAttributeViews().contains("posix");
        FileChannel ch = posix
                ? FileChannel.open(partial, Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                        StandardOpenOption.TRUNCATE_EXISTING), PosixFilePermissions.asFileAttribute(OWNER_ONLY))
                : FileChannel.open(partial, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                        StandardOpenOption.TRUNCATE_EXISTING);
        if (posix) {
            try {
                Files.setPosixFilePermissions(partial, OWNER_ONLY); // a partial file left by an older run kept its mode
            } catch (IOException | RuntimeException e) {
                ch.close();
                throw e;
            }
        }
        return ch;
    }

    /** Forces {@code partial}'s data to disk, renames it to {@code file}, and forces the directory entry too. */
    public static void commit(FileChannel partialChannel, Path partial, Path file) throws IOException {
        partialChannel.force(true);
        Files.move(partial, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        Path dir = file.toAbsolutePath().getParent();
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException e) {
            // some file systems cannot open a directory for fsync; the rename itself is atomic either way
        }
    }
}
