package dev.livemig.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * One file a fuzz target rewrites for every input, for code that reads streams from a path: in /dev/shm where
 * there is one (no disk, no create and delete per input, which cost more than a short input's parse), else in
 * the temporary directory. Deleted when the JVM exits. A fuzz target runs its inputs one after another.
 */
public final class ScratchFile {
    private final Path path;

    public ScratchFile(String suffix) {
        try {
            Path shm = Path.of("/dev/shm");
            path = Files.isDirectory(shm) && Files.isWritable(shm)
                    ? Files.createTempFile(shm, "livemig-fuzz-", suffix) : Files.createTempFile("livemig-fuzz-", suffix);
            path.toFile().deleteOnExit();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The file holding exactly {@code bytes}. */
    public Path holding(byte[] bytes) throws IOException {
        Files.write(path, bytes, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
        return path;
    }
}
