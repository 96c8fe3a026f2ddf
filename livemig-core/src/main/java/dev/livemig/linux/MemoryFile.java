package dev.livemig.linux;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * A descriptor of memory that another process can map: a memfd made here, or one (a memfd, a shm file) that came
 * from another process. cpr-transfer passes it on by SCM_RIGHTS ({@link UnixSocket#sendDescriptor}) so that the
 * new process maps the very pages instead of receiving a copy; the file lives as long as any process holds a
 * descriptor or a mapping of it.
 */
public final class MemoryFile implements PassableDescriptor, AutoCloseable {
    private final FileDescriptorHolder fd;
    private final String name;

    private MemoryFile(int fd, String name) {
        this.fd = new FileDescriptorHolder(this, "memory file " + name, fd);
        this.name = name;
    }

    /** A new memfd named {@code name} of {@code size} bytes, all zero and none of them allocated yet. */
    public static MemoryFile memfd(String name, long size) throws IOException {
        int fd;
        try {
            fd = Memfd.create(name);
        } catch (NativeCallException | UnsupportedOperationException e) {
            throw new IOException("memfd for " + name + ": " + e.getMessage(), e);
        }
        MemoryFile file = new MemoryFile(fd, name);
        try (RandomAccessFile f = new RandomAccessFile(file.procPath().toFile(), "rw")) {
            f.setLength(size); // ftruncate: a hole, so the pages cost nothing until written
            return file;
        } catch (IOException | RuntimeException e) {
            file.close();
            throw e;
        }
    }

    /**
     * Takes a descriptor another process passed as the memory of {@code name}, which must be a file (a memfd or a
     * shm file, not a socket or a pipe) of at least {@code size} bytes; refused otherwise, the descriptor then
     * still the caller's to close.
     */
    public static MemoryFile adopt(ReceivedDescriptor descriptor, String name, long size) throws IOException {
        String target = descriptor.target();
        BasicFileAttributes attributes = Files.readAttributes(Path.of("/proc/self/fd/" + descriptor.fd()), BasicFileAttributes.class);
        if (!attributes.isRegularFile()) {
            throw new IOException("the descriptor passed for " + name + " is " + target + ", not a memory file (memfd or shm)");
        }
        if (attributes.size() < size) {
            throw new IOException("the memory file passed for " + name + " (" + target + ") holds " + attributes.size()
                    + " bytes, not " + size);
        }
        return new MemoryFile(descriptor.take(), name);
    }

    /** The first {@code size} bytes mapped shared: writes through it are the file's, seen by every mapper. */
    public MemorySegment map(Arena arena, long size) throws IOException {
        try (FileChannel ch = FileChannel.open(procPath(), StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            return ch.map(FileChannel.MapMode.READ_WRITE, 0, size, arena);
        }
    }

    /** The file's size in bytes. */
    public long size() throws IOException {
        return Files.size(procPath());
    }

    /** What the descriptor refers to, as /proc names it (e.g. {@code /memfd:ram (deleted)}). */
    public String target() throws IOException {
        return Files.readSymbolicLink(procPath()).toString();
    }

    int descriptor() {
        return fd.fd();
    }

    private Path procPath() {
        return Path.of("/proc/self/fd/" + fd.fd());
    }

    /** Closes this descriptor; mappings and other processes' descriptors keep the memory. */
    @Override
    public void close() {
        fd.close();
    }

    @Override
    public String toString() {
        return "MemoryFile[" + name + "]";
    }
}
