package dev.livemig.vmstate;

import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.util.Random;

/** A channel over a byte array that hands out one byte per read, or a random-sized chunk: framing bugs show. */
final class ChunkedChannel implements ReadableByteChannel {
    private final byte[] data;
    private final Random chunks; // null: one byte at a time
    private int pos;

    private ChunkedChannel(byte[] data, Random chunks) {
        this.data = data;
        this.chunks = chunks;
    }

    static ChunkedChannel oneByteAtATime(byte[] data) {
        return new ChunkedChannel(data, null);
    }

    static ChunkedChannel randomChunks(byte[] data, long seed) {
        return new ChunkedChannel(data, new Random(seed));
    }

    @Override
    public int read(ByteBuffer dst) {
        if (pos == data.length) {
            return -1;
        }
        int want = chunks == null ? 1 : 1 + chunks.nextInt(17);
        int n = Math.min(Math.min(want, dst.remaining()), data.length - pos);
        dst.put(data, pos, n);
        pos += n;
        return n;
    }

    @Override
    public boolean isOpen() {
        return true;
    }

    @Override
    public void close() {
    }
}
