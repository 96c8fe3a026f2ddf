package dev.livemig.transport;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/**
 * A migration channel over a connected TCP or unix-domain socket. An accepted one may come with the bytes its
 * {@link HandshakeGate} already read: they are read again first.
 */
final class SocketMigrationChannel implements MigrationChannel {
    private static final ByteBuffer NOTHING = ByteBuffer.allocate(0);

    private final SocketChannel socket;
    private final String description;
    private ByteBuffer preread;

    SocketMigrationChannel(SocketChannel socket, String description) {
        this(socket, description, NOTHING);
    }

    SocketMigrationChannel(SocketChannel socket, String description, ByteBuffer preread) {
        this.socket = socket;
        this.description = description;
        this.preread = preread;
    }

    @Override
    public java.util.Optional<SocketChannel> socket() {
        return preread.hasRemaining() ? java.util.Optional.empty() : java.util.Optional.of(socket);
    }

    @Override
    public java.util.Optional<SocketChannel> connection() {
        return java.util.Optional.of(socket);
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        if (preread.hasRemaining()) {
            return drainPreread(dst);
        }
        return socket.read(dst);
    }

    @Override
    public long read(ByteBuffer[] dsts, int offset, int length) throws IOException {
        if (preread.hasRemaining()) {
            for (int i = offset; i < offset + length; i++) {
                if (dsts[i].hasRemaining()) {
                    return drainPreread(dsts[i]);
                }
            }
            return 0;
        }
        return socket.read(dsts, offset, length);
    }

    private int drainPreread(ByteBuffer dst) {
        int n = Math.min(dst.remaining(), preread.remaining());
        dst.put(preread.slice(preread.position(), n));
        preread.position(preread.position() + n);
        if (!preread.hasRemaining()) {
            preread = NOTHING;
        }
        return n;
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        return socket.write(src);
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        return socket.write(srcs, offset, length);
    }

    @Override
    public void shutdownOutput() throws IOException {
        socket.shutdownOutput();
    }

    @Override
    public boolean isBidirectional() {
        return true;
    }

    @Override
    public String describe() {
        return description;
    }

    @Override
    public boolean isOpen() {
        return socket.isOpen();
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
