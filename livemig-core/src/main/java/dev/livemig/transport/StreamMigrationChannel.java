package dev.livemig.transport;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;

/**
 * A one-way migration channel: a file (file: has no return path). Reading a write-only channel or
 * writing a read-only one is an IOException naming the channel. {@code onClose} releases what the channel
 * stands for (waits for the command, closes the file).
 */
final class StreamMigrationChannel implements MigrationChannel {
    interface Closer {
        void close() throws IOException;
    }

    private final ReadableByteChannel in;
    private final WritableByteChannel out;
    private final String description;
    private final Closer onClose;
    private boolean open = true;

    StreamMigrationChannel(ReadableByteChannel in, WritableByteChannel out, String description, Closer onClose) {
        this.in = in;
        this.out = out;
        this.description = description;
        this.onClose = onClose;
    }

    static StreamMigrationChannel reading(FileChannel file, String description) {
        return new StreamMigrationChannel(file, null, description, file::close);
    }

    static StreamMigrationChannel writing(FileChannel file, String description) {
        return new StreamMigrationChannel(null, file, description, file::close);
    }

    @Override
    public java.util.Optional<java.nio.channels.SeekableByteChannel> seekable() {
        return out instanceof FileChannel f ? java.util.Optional.of(f) : java.util.Optional.empty();
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        if (in == null) {
            throw new IOException(description + " carries no data back (no return path on this transport)");
        }
        return in.read(dst);
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        if (out == null) {
            throw new IOException(description + " is read-only");
        }
        return out.write(src);
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        if (out instanceof FileChannel f) {
            return f.write(srcs, offset, length);
        }
        return MigrationChannel.writeEach(this, srcs, offset, length);
    }

    @Override
    public void shutdownOutput() throws IOException {
        if (out != null && out.isOpen()) {
            out.close();
        }
    }

    @Override
    public boolean isBidirectional() {
        return false;
    }

    @Override
    public String describe() {
        return description;
    }

    @Override
    public boolean isOpen() {
        return open;
    }

    @Override
    public void close() throws IOException {
        if (open) {
            open = false;
            onClose.close();
        }
    }
}
