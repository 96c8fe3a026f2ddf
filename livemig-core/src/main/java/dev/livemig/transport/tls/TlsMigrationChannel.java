package dev.livemig.transport.tls;

import dev.livemig.transport.MigrationChannel;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A migration channel whose bytes travel as the payload of a TLS session over another channel. There is no socket
 * to hand to another process (the session's keys stay here), so {@link #socket()} is empty.
 */
public final class TlsMigrationChannel implements MigrationChannel {
    private final MigrationChannel raw;
    private final TlsSession session;

    TlsMigrationChannel(MigrationChannel raw, TlsSession session) {
        this.raw = raw;
        this.session = session;
    }

    /** The negotiated protocol and cipher suite. */
    public String negotiated() {
        return session.describe();
    }

    @Override
    public java.util.Optional<java.nio.channels.SocketChannel> connection() {
        return raw.connection();
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        return session.read(dst);
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        return session.write(src);
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        return session.write(srcs, offset, length);
    }

    /**
     * Half-closes the connection without a close_notify, as QEMU ends a main channel: the stream's own end marks
     * its end, and a QEMU destination, which stops reading there, would answer unread TLS bytes with a reset.
     */
    @Override
    public void shutdownOutput() throws IOException {
        raw.shutdownOutput();
    }

    /** close_notify, then the half-close: how QEMU 10.0 ends a multifd channel. */
    @Override
    public void endOutput() throws IOException {
        session.closeOutbound();
    }

    @Override
    public boolean isBidirectional() {
        return raw.isBidirectional();
    }

    @Override
    public String describe() {
        return raw.describe() + " over TLS";
    }

    @Override
    public boolean isOpen() {
        return raw.isOpen();
    }

    @Override
    public void close() throws IOException {
        raw.close();
    }
}
