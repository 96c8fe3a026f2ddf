package dev.livemig.transport.tls;

import dev.livemig.transport.MigrationChannel;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.HexFormat;
import java.util.Optional;

/**
 * The raw channel under a {@link PskSession} as the input of BouncyCastle's blocking TLS: read in large pieces
 * (BouncyCastle asks for a record header, then its body); remembers the peer's first bytes, to tell a peer that does
 * not speak TLS. Closing leaves the channel open.
 */
final class RawChannelInput extends InputStream {
    /** A TLS record starts with a content type (20 to 24), then major version 3. */
    private static final int HEAD_BYTES = 5;

    private final MigrationChannel raw;
    private final ByteBuffer buffer = ByteBuffer.allocateDirect(64 * 1024).flip();
    private final byte[] head = new byte[HEAD_BYTES];
    private volatile int headLength;
    private volatile boolean ended;
    private volatile IOException broken;

    RawChannelInput(MigrationChannel raw) {
        this.raw = raw;
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        if (len == 0) {
            return 0;
        }
        if (!buffer.hasRemaining() && !fill()) {
            return -1;
        }
        int n = Math.min(len, buffer.remaining());
        buffer.get(b, off, n);
        return n;
    }

    private boolean fill() throws IOException {
        buffer.clear();
        int n;
        try {
            do {
                n = raw.read(buffer);
            } while (n == 0);
        } catch (IOException e) {
            broken = e;
            throw e;
        } finally {
            buffer.flip();
        }
        if (n < 0) {
            ended = true;
            return false;
        }
        if (headLength < HEAD_BYTES) {
            int c = Math.min(HEAD_BYTES - headLength, buffer.remaining());
            buffer.get(buffer.position(), head, headLength, c);
            headLength += c;
        }
        return true;
    }

    /** Whether the raw stream ended. */
    boolean ended() {
        return ended;
    }

    /** What the raw channel failed with (a reset, say), or null. */
    IOException broken() {
        return broken;
    }

    /** Whether the peer sent anything at all. */
    boolean receivedAny() {
        return headLength > 0;
    }

    /** A message when the peer's first bytes cannot begin a TLS record. */
    Optional<String> notTls() {
        int n = headLength;
        boolean tls = n == 0 || (head[0] >= 20 && head[0] <= 24 && (n < 2 || head[1] == 3));
        return tls ? Optional.empty() : Optional.of("the peer does not speak TLS: its first bytes are "
                + HexFormat.ofDelimiter(" ").formatHex(head, 0, n) + " (a migration without TLS?)");
    }

    @Override
    public void close() {
        // the raw channel is its owner's to close
    }
}
