package dev.livemig.transport.tls;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * One TLS session over a raw channel: first the handshake, then application bytes in both directions. Reads and
 * writes may run on two threads at once (the stream one way, the return path the other); two reads, or two writes,
 * never do.
 */
public interface TlsSession {
    /**
     * Runs the handshake to its end, including the checks QEMU makes of the peer once it completes (certificate
     * validity, hostname, authorization). Fails with a TlsException that says why; a caller bounds the wait by
     * closing the raw channel.
     */
    void handshake() throws IOException;

    /** Reads application bytes into {@code dst}: at least one, or -1 once the peer closed its side. */
    int read(ByteBuffer dst) throws IOException;

    /** Writes every remaining byte of {@code src} as application data; returns how many. */
    int write(ByteBuffer src) throws IOException;

    /** Writes every remaining byte of {@code srcs[offset..offset+length)} as application data; returns how many. */
    default long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        long n = 0;
        for (int i = offset; i < offset + length; i++) {
            n += write(srcs[i]);
        }
        return n;
    }

    /** Ends the outgoing direction with TLS's close_notify (the peer reads the end); reads go on. */
    void closeOutbound() throws IOException;

    /** What was negotiated, for messages and statistics: protocol and cipher suite. */
    String describe();
}
