package dev.livemig.wire;

import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.util.Random;

/**
 * A readable channel over a byte array that hands out data in small pieces: one byte per read, or random
 * chunk sizes. Framing bugs hide in exactly these deliveries; every stream codec test runs through it.
 */
public final class ChunkedChannel implements ReadableByteChannel {
    private final byte[] data;
    private final Random random; // null: one byte per read
    private final int maxChunk;
    private int pos;

    private ChunkedChannel(byte[] data, Random random, int maxChunk) {
        this.data = data;
        this.random = random;
        this.maxChunk = maxChunk;
    }

    public static ChunkedChannel oneByteAtATime(byte[] data) {
        return new ChunkedChannel(data, null, 1);
    }

    public static ChunkedChannel randomChunks(byte[] data, long seed) {
        return new ChunkedChannel(data, new Random(seed), 9000);
    }

    /** Readers over the same bytes delivered whole, one byte at a time and in random chunks. */
    public static java.util.List<StreamReader> deliveries(byte[] data) {
        return java.util.List.of(StreamReader.of(data), new StreamReader(oneByteAtATime(data), 512),
                new StreamReader(randomChunks(data, 42), 4096), mappedFile(data, 512), mappedFile(data, 1 << 30));
    }

    /** A reader over {@code data} written to a file and mapped, its window moved every {@code window} bytes. */
    public static StreamReader mappedFile(byte[] data, int window) {
        try {
            var file = java.nio.file.Files.createTempFile("livemig-mapped", ".stream");
            file.toFile().deleteOnExit();
            java.nio.file.Files.write(file, data);
            return StreamReader.mapped(java.nio.channels.FileChannel.open(file), window);
        } catch (java.io.IOException | MigrationException e) {
            throw new AssertionError("cannot map a test stream", e);
        }
    }

    @Override
    public int read(ByteBuffer dst) {
        if (pos >= data.length) {
            return -1;
        }
        int n = Math.min(dst.remaining(), data.length - pos);
        n = Math.min(n, random == null ? 1 : 1 + random.nextInt(maxChunk));
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
