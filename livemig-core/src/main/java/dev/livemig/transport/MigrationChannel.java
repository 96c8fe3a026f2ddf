package dev.livemig.transport;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.GatheringByteChannel;

/**
 * One connection of a migration: the main stream in one direction and, for sockets, the return path in the
 * other. Writes may gather (page payloads go out without copies). {@link #shutdownOutput()} half-closes so the
 * peer sees the end of the stream while replies can still arrive. A channel that cannot carry one direction
 * (a file being written, a command's stdout) fails reads or writes with an IOException that says so.
 */
public interface MigrationChannel extends ByteChannel, GatheringByteChannel, java.nio.channels.ScatteringByteChannel {

    /**
     * The connected socket under this channel, for a consumer that hands the rest of the stream to another
     * process (postcopy's page server); empty for other transports, and while bytes read ahead are still
     * to be returned.
     */
    default java.util.Optional<java.nio.channels.SocketChannel> socket() {
        return java.util.Optional.empty();
    }

    /**
     * The socket that carries this channel, also under another protocol (TLS): what a cut or a reset acts on, and
     * whose close by the peer tells that it read the whole stream. Empty for other transports.
     */
    default java.util.Optional<java.nio.channels.SocketChannel> connection() {
        return socket();
    }

    /**
     * The file under a file: channel, for layouts written at fixed offsets (mapped-ram); empty for streams.
     */
    default java.util.Optional<java.nio.channels.SeekableByteChannel> seekable() {
        return java.util.Optional.empty();
    }

    /** Ends the outgoing direction; the incoming one stays open. */
    void shutdownOutput() throws IOException;

    /**
     * Ends the outgoing direction as current QEMU ends a multifd channel: under TLS with a close_notify first (QEMU
     * 10.0's destination takes a session without one as cut short); otherwise as {@link #shutdownOutput()}.
     */
    default void endOutput() throws IOException {
        shutdownOutput();
    }

    /** True when this channel also carries data back (a socket). */
    boolean isBidirectional();

    /** Where this channel goes, for messages. */
    String describe();

    /** A gathering write for channels that cannot gather: each buffer in turn, completely. */
    static long writeEach(MigrationChannel channel, ByteBuffer[] srcs, int offset, int length) throws IOException {
        long n = 0;
        for (int i = offset; i < offset + length; i++) {
            while (srcs[i].hasRemaining()) {
                n += channel.write(srcs[i]);
            }
        }
        return n;
    }

    /**
     * Shuts both directions of a socket channel down (migrate-pause): every process holding the socket sees the
     * link end, and a thread blocked on it returns; the channel stays open until closed. Nothing for others.
     */
    static void cut(MigrationChannel channel) {
        if (channel == null) {
            return;
        }
        channel.connection().ifPresent(socket -> {
            try {
                socket.shutdownInput();
                socket.shutdownOutput();
            } catch (IOException e) {
                // already closed: the link is cut either way
            }
        });
    }

    /**
     * Closes {@code channel} with a reset where it is a socket (SO_LINGER 0): a refusal the peer sees as an error
     * on its next read, not as the end of a stream it may have written in full (the rest of it read ahead here
     * and dropped). A source without return path learns of a refused migration no other way. Others just close.
     */
    static void reset(MigrationChannel channel) {
        if (channel == null) {
            return;
        }
        channel.connection().ifPresent(socket -> {
            try {
                if (socket.getLocalAddress() instanceof java.net.UnixDomainSocketAddress) {
                    // a unix socket has no reset: one byte back is the refusal (such a source only reads for the end)
                    socket.write(java.nio.ByteBuffer.wrap(new byte[] {REFUSED}));
                } else {
                    socket.setOption(java.net.StandardSocketOptions.SO_LINGER, 0);
                }
            } catch (IOException | RuntimeException e) {
                // closed already: the peer has seen the end one way or the other
            }
        });
        closeQuietly(channel);
    }

    /**
     * What a livemig destination without return path writes back on a unix socket when it refuses a stream
     * ({@link #reset}); a QEMU destination writes nothing there, so any byte read is a refusal.
     */
    byte REFUSED = 0x15; // NAK

    /** Closes {@code channel} if there is one, ignoring errors: for when the outcome is already decided. */
    static void closeQuietly(MigrationChannel channel) {
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException ignored) {
                // nothing to do: the migration already has its outcome
            }
        }
    }

    @Override
    default long write(ByteBuffer[] srcs) throws IOException {
        return write(srcs, 0, srcs.length);
    }

    /** A scattering read for channels that cannot scatter: into the first buffer with room. */
    @Override
    default long read(ByteBuffer[] dsts, int offset, int length) throws IOException {
        for (int i = offset; i < offset + length; i++) {
            if (dsts[i].hasRemaining()) {
                return read(dsts[i]);
            }
        }
        return 0;
    }

    @Override
    default long read(ByteBuffer[] dsts) throws IOException {
        return read(dsts, 0, dsts.length);
    }
}
