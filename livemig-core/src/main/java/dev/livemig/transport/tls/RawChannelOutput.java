package dev.livemig.transport.tls;

import dev.livemig.transport.MigrationChannel;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;

/**
 * The raw channel under a {@link PskSession} as the output of BouncyCastle's blocking TLS. BouncyCastle flushes after
 * every record; while a write gathers, the records collect here and go out in few large writes. Closing leaves the
 * channel open.
 */
final class RawChannelOutput extends OutputStream {
    private final MigrationChannel raw;
    private final ByteBuffer buffer = ByteBuffer.allocateDirect(256 * 1024);
    private boolean gathering;

    RawChannelOutput(MigrationChannel raw) {
        this.raw = raw;
    }

    void gather(boolean on) {
        gathering = on;
    }

    @Override
    public void write(int b) throws IOException {
        write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
        if (len > buffer.remaining()) {
            drain();
        }
        if (len > buffer.capacity()) {
            ByteBuffer all = ByteBuffer.wrap(b, off, len);
            while (all.hasRemaining()) {
                raw.write(all);
            }
            return;
        }
        buffer.put(b, off, len);
    }

    @Override
    public void flush() throws IOException {
        if (!gathering) {
            drain();
        }
    }

    private void drain() throws IOException {
        buffer.flip();
        try {
            while (buffer.hasRemaining()) {
                raw.write(buffer);
            }
        } finally {
            buffer.clear();
        }
    }

    @Override
    public void close() {
        // the raw channel is its owner's to close
    }
}
