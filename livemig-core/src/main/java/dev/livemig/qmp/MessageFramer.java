package dev.livemig.qmp;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.util.Arrays;

/**
 * Splits a QMP input stream into messages the way QEMU's JSON streamer does, without needing newlines: a
 * message ends when its braces and brackets balance again, or at once when a closer has no opener (strings in
 * either quote and their escapes are tracked, so braces in strings do not count). Anything else at the top
 * level (a bare number, a stray word) ends at a newline so that the dispatcher can refuse it and the session
 * goes on. A byte that cannot be part of JSON where it stands (a control character, 0xFE, 0xFF) ends the
 * message too, and the next starts afresh: QMP's documented way for a client to reset the server's parser.
 * Scanning bytes is safe for UTF-8 because every structural character is ASCII and never part of a
 * multi-byte sequence.
 *
 * <p>Memory: a message is held in a buffer that grows by doubling up to the message cap, each growth taken
 * from the server's {@link ByteBudget} first, and all of it given back as soon as the message is complete, the
 * client goes or it is refused: an idle client holds nothing but the 8 KiB read buffer. Not thread-safe: one
 * per client.
 */
final class MessageFramer {
    /** Thrown when a message cannot be held: over the cap, or over the budget. The stream cannot be resynchronised after it. */
    static final class OversizedMessageException extends IOException {
        OversizedMessageException(String message) {
            super(message);
        }
    }

    private static final int FIRST_CAPACITY = 1024;

    private final ReadableByteChannel in;
    private final ByteBuffer input = ByteBuffer.allocate(8192).flip();
    private final int cap;
    private final ByteBudget budget;
    /** The message so far; its whole length is taken from the budget. */
    private byte[] message = new byte[0];
    private int size;

    /**
     * Reads through {@link ReadableByteChannel#read} rather than {@code Channels.newInputStream}, whose stream
     * may hold a socket channel's blocking lock while blocked in read and so stall a concurrent event write.
     */
    MessageFramer(ReadableByteChannel in, int cap, ByteBudget budget) {
        this.in = in;
        this.cap = cap;
        this.budget = budget;
    }

    /** The next message's bytes, or null when the peer closed (a partial message is dropped). */
    byte[] next() throws IOException {
        int braces = 0;
        int brackets = 0;
        int quote = 0;
        boolean escape = false;
        int b;
        while ((b = read()) >= 0) {
            if (size == 0 && isWhitespace(b)) {
                continue;
            }
            append(b);
            if (quote != 0) {
                if (b < 0x20 || b >= 0xfe) {
                    return take(); // never valid in a string: the parser reports it
                } else if (escape) {
                    escape = false;
                } else if (b == '\\') {
                    escape = true;
                } else if (b == quote) {
                    quote = 0;
                }
                continue;
            }
            switch (b) {
                case '"', '\'' -> quote = b;
                case '{' -> braces++;
                case '[' -> brackets++;
                case '}', ']' -> {
                    // counted apart, as QEMU's streamer does: a stray closer ends the message at once
                    int left = b == '}' ? --braces : --brackets;
                    if (left < 0 || (braces == 0 && brackets == 0)) {
                        return take();
                    }
                }
                case '\n' -> {
                    if (braces == 0 && brackets == 0) {
                        return take();
                    }
                }
                default -> {
                    if ((b < 0x20 && b != '\t' && b != '\r') || b >= 0xfe) {
                        return take(); // a lexical error: the parser reports it
                    }
                }
            }
        }
        release();
        return null;
    }

    /** Gives back what a partial message holds; the session calls it when it ends. */
    void release() {
        budget.giveBack(message.length);
        message = new byte[0];
        size = 0;
    }

    private int read() throws IOException {
        while (!input.hasRemaining()) {
            input.clear();
            int n = in.read(input);
            input.flip();
            if (n < 0) {
                return -1;
            }
        }
        return input.get() & 0xff;
    }

    private void append(int b) throws OversizedMessageException {
        if (size == message.length) {
            grow();
        }
        message[size++] = (byte) b;
    }

    private void grow() throws OversizedMessageException {
        if (size >= cap) {
            release();
            throw new OversizedMessageException("JSON message exceeds " + cap
                    + " bytes, the largest this QMP server takes; the connection is closed");
        }
        int capacity = message.length == 0 ? Math.min(FIRST_CAPACITY, cap) : (int) Math.min(2L * message.length, cap);
        if (!budget.tryTake(capacity - message.length)) {
            release();
            throw new OversizedMessageException("JSON message refused: this QMP server holds at most " + budget.limit()
                    + " bytes of unfinished messages for all its clients together and has no room left; the connection is closed");
        }
        message = Arrays.copyOf(message, capacity);
    }

    private byte[] take() {
        byte[] m = Arrays.copyOf(message, size);
        release();
        return m;
    }

    private static boolean isWhitespace(int b) {
        return b == ' ' || b == '\t' || b == '\r' || b == '\n';
    }
}
