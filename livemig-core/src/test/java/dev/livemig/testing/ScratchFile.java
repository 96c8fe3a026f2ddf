package dev.livemig.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * The file a fuzz target hands to code that reads streams from a path, one input after another: in /dev/shm
 * where there is one (no disk), else in the temporary directory. Each input gets a new file and the previous
 * one is deleted: rewriting one file in place looks cheaper but is not, because readers that map the file
 * (analyze) leave their mappings to the collector, and truncating a file the kernel must first unmap from
 * every one of them (a millisecond per input after a few thousand). The last file is deleted when the JVM exits.
 */
public final class ScratchFile {
    private final Path dir;
    private final String suffix;
    private Path current;

    public ScratchFile(String suffix) {
        Path shm = Path.of("/dev/shm");
        this.dir = Files.isDirectory(shm) && Files.isWritable(shm) ? shm : Path.of(System.getProperty("java.io.tmpdir"));
        this.suffix = suffix;
        Runtime.getRuntime().addShutdownHook(new Thread(this::deleteCurrent));
    }

    /** A file holding exactly {@code bytes}; the one returned before is gone. */
    public synchronized Path holding(byte[] bytes) throws IOException {
        Path next = Files.createTempFile(dir, "livemig-fuzz-", suffix);
        Files.write(next, bytes, StandardOpenOption.WRITE);
        deleteCurrent();
        current = next;
        return next;
    }

    private synchronized void deleteCurrent() {
        try {
            if (current != null) {
                Files.deleteIfExists(current);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
