package dev.livemig.wire;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.Channels;
import java.nio.channels.GatheringByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;

/**
 * Buffered big-endian writer of a migration stream over any byte channel.
 *
 * <pre>
 *  small values ──▶ [ direct buffer: header bytes | header bytes | ... ]
 *  pages ─────────▶ queued by reference ──┐
 *                                          ▼
 *        gather list: hdr slice, page 0, hdr slice, page 1, ...  ──▶ channel.write(ByteBuffer[])
 * </pre>
 *
 * Page payloads handed to {@link #page(MemorySegment)} are not copied: their segments are queued and written
 * with one gathering write together with the header bytes around them. The caller must keep a queued segment
 * alive until the next {@link #flush()}; its contents may still change until then (as with QEMU's async
 * page puts, dirty tracking catches that). Write failures become {@link MigrationException} with the offset.
 * Not thread-safe.
 */
public final class StreamWriter implements AutoCloseable {
    private static final int DEFAULT_BUFFER = 256 << 10;
    private static final int MAX_GATHER = 128;
    private static final int COPY_BELOW = 512; // tiny payloads are cheaper to copy than to queue
    private static final long FLUSH_QUEUED = 2 << 20;

    private final WritableByteChannel channel;
    private final ByteBuffer buf;
    private final ByteBuffer[] gather = new ByteBuffer[MAX_GATHER];
    private int gathered;
    private long queuedBytes; // bytes in gather[] (headers and pages)
    private int mark; // start of header bytes in buf not yet in gather[]
    private long flushed; // bytes handed to the channel

    /**
     * A writer with a 256 KiB buffer; closing it flushes and closes {@code channel}. Writes block as the channel's do.
     */
    public StreamWriter(WritableByteChannel channel) {
        this(channel, DEFAULT_BUFFER);
    }

    /** A writer with a buffer of {@code bufferSize} bytes (at least 4096 are taken), which a flush empties. */
    public StreamWriter(WritableByteChannel channel, int bufferSize) {
        this.channel = channel;
        this.buf = ByteBuffer.allocateDirect(Math.max(bufferSize, 4096)).order(ByteOrder.BIG_ENDIAN);
    }

    /** A writer collecting into memory (tests, tools, packaged commands); read the result with {@link #toByteArray}. */
    public static StreamWriter inMemory() {
        return new StreamWriter(new MemoryChannel(), 4096);
    }

    /** The bytes written so far, for a writer made by {@link #inMemory()}; flushes first. */
    public byte[] toByteArray() throws MigrationException {
        if (!(channel instanceof MemoryChannel mem)) {
            throw new IllegalStateException("not an in-memory writer");
        }
        flush();
        return mem.out.toByteArray();
    }

    /** The file under this writer, for writes at fixed offsets beside the stream (mapped-ram); null for a stream. */
    public java.nio.channels.FileChannel file() {
        return channel instanceof java.nio.channels.FileChannel f ? f : null;
    }

    /** Where in the file the next stream byte goes (the stream may start at an offset of it); flushes first. */
    public long filePosition() throws MigrationException {
        java.nio.channels.FileChannel f = file();
        if (f == null) {
            throw new IllegalStateException("not a file: " + channel);
        }
        flush();
        try {
            return f.position();
        } catch (IOException e) {
            throw new MigrationException("cannot read the file position: " + e.getMessage(), e);
        }
    }

    /** Bytes written so far, including buffered ones: the stream offset of the next byte. */
    public long offset() {
        return flushed + queuedBytes + (buf.position() - mark);
    }

    /** One byte: the low 8 bits of {@code v}. */
    public StreamWriter u8(int v) throws MigrationException {
        room(1);
        buf.put((byte) v);
        return this;
    }

    /** The low 16 bits of {@code v}, big-endian. */
    public StreamWriter be16(int v) throws MigrationException {
        room(2);
        buf.putShort((short) v);
        return this;
    }

    /** {@code v}, big-endian. */
    public StreamWriter be32(int v) throws MigrationException {
        room(4);
        buf.putInt(v);
        return this;
    }

    /** The low 32 bits of {@code v}, big-endian: for unsigned values held in a long. */
    public StreamWriter be32(long v) throws MigrationException {
        return be32((int) v);
    }

    /** {@code v}, big-endian. */
    public StreamWriter be64(long v) throws MigrationException {
        room(8);
        buf.putLong(v);
        return this;
    }

    /** QEMU's str8: one length byte then the text's Latin-1 bytes; longer than 255 bytes is a caller bug. */
    public StreamWriter str8(String s) throws MigrationException {
        byte[] b = s.getBytes(StandardCharsets.ISO_8859_1);
        if (b.length > 255) {
            throw new IllegalArgumentException("str8 longer than 255 bytes: " + s.length() + " \"" + s.substring(0, 32) + "...\"");
        }
        u8(b.length);
        return bytes(b);
    }

    /** The whole array, copied into the buffer (the array may change once this returns). */
    public StreamWriter bytes(byte[] b) throws MigrationException {
        return bytes(b, 0, b.length);
    }

    /** {@code len} bytes of {@code b} from {@code off}, copied into the buffer. */
    public StreamWriter bytes(byte[] b, int off, int len) throws MigrationException {
        while (len > 0) {
            if (!buf.hasRemaining()) {
                flush();
            }
            int k = Math.min(len, buf.remaining());
            buf.put(b, off, k);
            off += k;
            len -= k;
        }
        return this;
    }

    /** Copies a segment's bytes into the stream now (use for small or short-lived data). */
    public StreamWriter copy(MemorySegment data) throws MigrationException {
        long done = 0;
        long len = data.byteSize();
        while (done < len) {
            if (!buf.hasRemaining()) {
                flush();
            }
            int k = (int) Math.min(len - done, buf.remaining());
            MemorySegment.copy(data, done, MemorySegment.ofBuffer(buf), 0, k); // ofBuffer starts at position
            buf.position(buf.position() + k);
            done += k;
        }
        return this;
    }

    /** Queues a page payload by reference (zero-copy); see the class comment for the lifetime rule. */
    public StreamWriter page(MemorySegment data) throws MigrationException {
        if (data.byteSize() < COPY_BELOW) {
            return copy(data);
        }
        if (gathered + 2 > MAX_GATHER) {
            flush();
        }
        cutHeader();
        gather[gathered++] = data.asByteBuffer();
        queuedBytes += data.byteSize();
        if (queuedBytes >= FLUSH_QUEUED) {
            flush();
        }
        return this;
    }

    /**
     * {@code n} zero bytes: on a file (a seekable channel) a hole, skipped over without writing (the file reads
     * as zero there once data follows); elsewhere written. For mapped-ram's page areas of zero pages.
     */
    public StreamWriter zeros(long n) throws MigrationException {
        if (n < 0) {
            throw new IllegalArgumentException("negative length: " + n);
        }
        if (channel instanceof java.nio.channels.SeekableByteChannel file && n >= 4096) {
            flush();
            try {
                file.position(file.position() + n);
            } catch (IOException e) {
                throw new MigrationException("seek failed: " + e.getMessage(), e);
            }
            flushed += n;
            return this;
        }
        byte[] zero = new byte[(int) Math.min(n, 64 << 10)];
        for (long left = n; left > 0; left -= zero.length) {
            bytes(zero, 0, (int) Math.min(left, zero.length));
        }
        return this;
    }

    /** Hands every buffered and queued byte to the channel. */
    public void flush() throws MigrationException {
        cutHeader();
        if (gathered == 0) {
            buf.clear();
            mark = 0;
            return;
        }
        try {
            if (channel instanceof GatheringByteChannel g) {
                int first = 0;
                while (first < gathered) {
                    g.write(gather, first, gathered - first);
                    while (first < gathered && !gather[first].hasRemaining()) {
                        first++;
                    }
                }
            } else {
                for (int i = 0; i < gathered; i++) {
                    while (gather[i].hasRemaining()) {
                        channel.write(gather[i]);
                    }
                }
            }
        } catch (IOException e) {
            throw new MigrationException("write failed: " + e.getMessage(), null, flushed, e);
        } finally {
            flushed += queuedBytes;
            queuedBytes = 0;
            java.util.Arrays.fill(gather, 0, gathered, null);
            gathered = 0;
            buf.clear();
            mark = 0;
        }
    }

    private void cutHeader() {
        int len = buf.position() - mark;
        if (len > 0) {
            gather[gathered++] = buf.slice(mark, len);
            queuedBytes += len;
            mark = buf.position();
        }
    }

    private void room(int n) throws MigrationException {
        if (buf.remaining() < n || gathered + 2 > MAX_GATHER) {
            flush();
        }
    }

    @Override
    public void close() throws MigrationException {
        try {
            flush();
        } finally {
            try {
                channel.close();
            } catch (IOException e) {
                throw new MigrationException("close failed: " + e.getMessage(), null, flushed, e);
            }
        }
    }

    private static final class MemoryChannel implements WritableByteChannel {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final WritableByteChannel sink = Channels.newChannel(out);

        @Override
        public int write(ByteBuffer src) throws IOException {
            return sink.write(src);
        }

        @Override
        public boolean isOpen() {
            return true;
        }

        @Override
        public void close() {
        }
    }
}
