package dev.livemig.qmp;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/**
 * Splits a QMP input stream into messages the way QEMU's JSON streamer does, without needing newlines: a
 * message ends when its braces and brackets balance again, or at once when a closer has no opener (strings and escapes are tracked, so braces in
 * strings do not count). Anything else at the top level (a bare number, a stray word) ends at a newline so
 * that the dispatcher can refuse it and the session goes on. Scanning bytes is safe for UTF-8 because every
 * structural character is ASCII and never part of a multi-byte sequence. Not thread-safe: one per client.
 */
final class MessageFramer {
    /** Thrown when one message grows beyond the cap; the stream cannot be resynchronised after it. */
    static final class OversizedMessageException extends IOException {
        OversizedMessageException(int cap) {
            super("JSON message exceeds " + cap + " bytes");
        }
    }

    private final InputStream in;
    private final int cap;
    private final ByteArrayOutputStream buffer = new ByteArrayOutputStream();

    MessageFramer(InputStream in, int cap) {
        this.in = in;
        this.cap = cap;
    }

    /** The next message's text, or null when the peer closed (a partial message is dropped). */
    String next() throws IOException {
        buffer.reset();
        int braces = 0;
        int brackets = 0;
        boolean inString = false;
        boolean escape = false;
        int b;
        while ((b = in.read()) >= 0) {
            if (buffer.size() == 0 && Character.isWhitespace(b)) {
                continue;
            }
            if (buffer.size() >= cap) {
                throw new OversizedMessageException(cap);
            }
            buffer.write(b);
            if (inString) {
                if (escape) {
                    escape = false;
                } else if (b == '\\') {
                    escape = true;
                } else if (b == '"') {
                    inString = false;
                }
                continue;
            }
            switch (b) {
                case '"' -> inString = true;
                case '{' -> braces++;
                case '[' -> brackets++;
                case '}', ']' -> {
                    // counted apart, as QEMU's streamer does: a stray closer ends the message at once
                    int left = b == '}' ? --braces : --brackets;
                    if (left < 0 || (braces == 0 && brackets == 0)) {
                        return text();
                    }
                }
                case '\n' -> {
                    if (braces == 0 && brackets == 0) {
                        return text();
                    }
                }
                default -> {
                    // part of a value; only structure matters here
                }
            }
        }
        return null;
    }

    private String text() {
        return buffer.toString(StandardCharsets.UTF_8).strip();
    }
}
