package dev.livemig.transport.tls;

import dev.livemig.wire.MigrationException;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A file read as QEMU reads the files of its TLS objects, with GLib's g_file_get_contents: its bytes, or GLib's text
 * for why not, which QEMU passes on (after words of its own). The texts end in the C library's strerror words.
 */
final class GlibFile {
    private GlibFile() {
    }

    /**
     * The bytes of {@code file}; a failure is a UserObjectException whose message is GLib's text alone
     * ("Failed to open file “/x”: No such file or directory").
     */
    static byte[] contents(String file) throws UserObjectException {
        FileChannel channel;
        try {
            if (file.isEmpty()) {
                throw new NoSuchFileException(file); // open(2) of "", where Path.of("") would be the working directory
            }
            channel = FileChannel.open(Path.of(file), StandardOpenOption.READ);
        } catch (IOException | InvalidPathException e) {
            throw new UserObjectException("Failed to open file “" + file + "”: " + strerror(e), e);
        }
        try (channel) {
            var out = new ByteArrayOutputStream();
            var buffer = ByteBuffer.allocate(8192);
            while (channel.read(buffer.clear()) >= 0) {
                out.write(buffer.array(), 0, buffer.position());
            }
            return out.toByteArray();
        } catch (IOException e) {
            // GLib reads a non-empty regular file with read(2), anything else through stdio, with two texts
            boolean regular = Files.isRegularFile(Path.of(file));
            String how = regular ? "Failed to read from file “" : "Error reading file “";
            throw new UserObjectException(how + file + "”: " + strerror(e), e);
        }
    }

    /** The C library's strerror words for an I/O failure; the JDK keeps them as a file system exception's reason. */
    static String strerror(Exception e) {
        return switch (e) {
            case NoSuchFileException _ -> "No such file or directory";
            case AccessDeniedException _ -> "Permission denied";
            case FileSystemException f when f.getReason() != null -> f.getReason();
            case InvalidPathException _ -> "Invalid argument";
            default -> MigrationException.reason(e);
        };
    }
}
