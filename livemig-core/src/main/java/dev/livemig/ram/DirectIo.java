package dev.livemig.ram;

import dev.livemig.wire.MigrationException;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * The direct-io parameter's file channels (O_DIRECT): mapped-ram's page areas read and written past the page
 * cache, as QEMU's multifd channels do with direct-io. What goes through them is always whole, aligned 4 KiB
 * pages of guest memory at page-aligned offsets of 1 MiB-aligned page areas, which O_DIRECT asks for.
 */
final class DirectIo {
    private DirectIo() {
    }

    /** {@code file} opened with O_DIRECT for writing, or reading when {@code write} is false. */
    static FileChannel open(Path file, boolean write) throws MigrationException {
        OpenOption mode = write ? StandardOpenOption.WRITE : StandardOpenOption.READ;
        try {
            return FileChannel.open(file, mode, com.sun.nio.file.ExtendedOpenOption.DIRECT);
        } catch (IOException | UnsupportedOperationException e) {
            throw new MigrationException("direct-io: cannot open " + file + " with O_DIRECT: " + e.getMessage()
                    + " (the file system may not support it)", e);
        }
    }
}
