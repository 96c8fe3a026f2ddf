package dev.livemig.wire;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;
import java.nio.charset.StandardCharsets;
import java.io.ByteArrayInputStream;

/**
 * Buffered big-endian reader of a migration stream over any byte channel.
 *
 * <pre>
 *   consumed bytes        buffered, not yet consumed      still in the channel
 * |=====================|[position ........ limit)|~~~~~~~~~~~~~~~~~~~~~~~~~~
 * 0                  offset()
 * </pre>
 *
 * Every read either returns the value or throws {@link MigrationException} naming the offset where the
 * value started and the section set with {@link #section(String)}; nothing else escapes. Large payloads
 * ({@link #readFully(MemorySegment)}) are read straight into the destination segment, never through a
 * heap array. Not thread-safe: one reader per channel, used by one thread at a time.
 */
public final class StreamReader implements AutoCloseable {
    /** Largest byte array {@link #bytes(int)} hands out; larger payloads must go to a segment. */
    public static final int MAX_ARRAY = 64 << 20;
    private static final int DEFAULT_BUFFER = 256 << 10;
    /** What {@link #bytes(int)} allocates before the bytes it was asked for have arrived. */
    private static final int FIRST_RUN = 64 << 10;

    /** Largest window of a mapped file seen through {@link #buf} at once (a ByteBuffer indexes with an int). */
    private static final int MAPPED_WINDOW = 1 << 30;

    private final ReadableByteChannel channel;
    private ByteBuffer buf;          // a mapped reader's buf is a window of the file, moved instead of filled
    private final MemorySegment mapped; // the whole file, or null for a reader that copies from its channel
    private final int window;           // a mapped reader's largest window
    private long base; // stream offset of buf[0]
    private ByteBuffer viewOf; // the buffer view was made of
    private MemorySegment view; // buf from index 0, made once per buffer: copies out of buf allocate nothing
    private String section;
    private boolean eof;

    /** A reader with a 256 KiB buffer; closing it closes {@code channel}. Reads block as the channel's do. */
    public StreamReader(ReadableByteChannel channel) {
        this(channel, DEFAULT_BUFFER);
    }

    /**
     * A reader with a buffer of {@code bufferSize} bytes, which bounds how far it reads ahead of what is consumed.
     *
     * @throws IllegalArgumentException if {@code bufferSize} is below 512, too small to peek at a subsection header
     */
    public StreamReader(ReadableByteChannel channel, int bufferSize) {
        if (bufferSize < 512) {
            throw new IllegalArgumentException("buffer too small for peeking a subsection header: " + bufferSize);
        }
        this.channel = channel;
        this.buf = ByteBuffer.allocateDirect(bufferSize).order(ByteOrder.BIG_ENDIAN);
        buf.limit(0);
        this.mapped = null;
        this.window = 0;
    }

    private StreamReader(java.nio.channels.FileChannel file, MemorySegment mapped, int window) {
        this.channel = file;
        this.mapped = mapped;
        this.window = window;
        this.buf = window(0);
    }

    /**
     * A reader over a whole file mapped into memory: what is skipped (page data a dump does not show) is
     * never read or copied, so walking a stream costs its headers only. The reader owns {@code file}.
     */
    public static StreamReader mapped(java.nio.channels.FileChannel file) throws MigrationException {
        return mapped(file, MAPPED_WINDOW);
    }

    /** With windows of at most {@code window} bytes (at least 512; tests move windows often with small ones). */
    static StreamReader mapped(java.nio.channels.FileChannel file, int window) throws MigrationException {
        if (window < 512) {
            throw new IllegalArgumentException("window too small for peeking a subsection header: " + window);
        }
        var arena = java.lang.foreign.Arena.ofAuto(); // views handed out keep the mapping alive
        try {
            long size = file.size();
            MemorySegment whole = size == 0 ? MemorySegment.ofArray(new byte[0])
                    : file.map(java.nio.channels.FileChannel.MapMode.READ_ONLY, 0, size, arena);
            return new StreamReader(file, whole, window);
        } catch (IOException | RuntimeException e) {
            throw new MigrationException("cannot map the stream: " + MigrationException.reason(e), null, 0, e);
        }
    }

    /** The mapped file from {@code at} on, as much as one buffer can see. */
    private ByteBuffer window(long at) {
        long n = Math.min(mapped.byteSize() - at, window);
        return mapped.asSlice(at, n).asByteBuffer().order(ByteOrder.BIG_ENDIAN);
    }

    private MigrationException truncatedMapping(long at, long n) {
        return new MigrationException("truncated stream: wanted " + n + " bytes, got " + (mapped.byteSize() - at), section, at, null);
    }

    /** Moves a mapped reader's window so that it starts at stream offset {@code at}. */
    private void moveWindow(long at) {
        buf = window(at);
        base = at;
    }

    /**
     * A copying reader over a file, its buffer no larger than the file: a snapshot of a few KiB does not pay
     * for (and leave to the collector) a buffer of {@link #DEFAULT_BUFFER}. The reader owns {@code file}.
     */
    public static StreamReader of(java.nio.channels.FileChannel file) throws IOException {
        return new StreamReader(file, (int) Math.max(512, Math.min(file.size(), DEFAULT_BUFFER)));
    }

    /** A reader over an in-memory byte array (tests, tools). */
    public static StreamReader of(byte[] bytes) {
        return new StreamReader(Channels.newChannel(new ByteArrayInputStream(bytes)), Math.max(512, Math.min(bytes.length, DEFAULT_BUFFER)));
    }

    /**
     * The bytes read from the channel but not consumed yet, taken out of this reader: whoever reads on from the
     * channel itself (postcopy's page server) reads these first. Not for a mapped reader.
     */
    public byte[] takeBuffered() {
        if (mapped != null) {
            throw new IllegalStateException("a mapped reader has no read-ahead to hand over");
        }
        byte[] out = new byte[buf.remaining()];
        buf.get(out);
        return out;
    }

    /** Bytes consumed so far: the offset of the next byte to be read. */
    public long offset() {
        return base + buf.position();
    }

    /** Names the section being read, for error messages; null for none. */
    public void section(String name) {
        this.section = name;
    }

    /** The section being read, as last set with {@link #section(String)}; null for none. */
    public String section() {
        return section;
    }

    /** An error at the current offset in the current section. */
    public MigrationException error(String message) {
        return new MigrationException(message, section, offset(), null);
    }

    /** An error at the given offset in the current section. */
    public MigrationException errorAt(long at, String message) {
        return new MigrationException(message, section, at, null);
    }

    /** One byte, 0 to 255. */
    public int u8() throws MigrationException {
        need(1);
        return buf.get() & 0xff;
    }

    /** A big-endian 16-bit value, 0 to 65535. */
    public int be16() throws MigrationException {
        need(2);
        return buf.getShort() & 0xffff;
    }

    /** A be32 as a Java int (callers that need it unsigned use {@link #be32u()}). */
    public int be32() throws MigrationException {
        need(4);
        return buf.getInt();
    }

    /** A be32 read unsigned, 0 to 2^32-1. */
    public long be32u() throws MigrationException {
        return be32() & 0xffff_ffffL;
    }

    /** A big-endian 64-bit value (an unsigned one as its bits). */
    public long be64() throws MigrationException {
        need(8);
        return buf.getLong();
    }

    /** A length byte followed by that many bytes of text (QEMU's str8); bytes are kept as Latin-1 chars. */
    public String str8() throws MigrationException {
        int len = u8();
        need(len);
        byte[] b = new byte[len];
        buf.get(b);
        return new String(b, StandardCharsets.ISO_8859_1);
    }

    /**
     * Exactly {@code n} bytes, at most {@link #MAX_ARRAY}. {@code n} is usually a length the stream declared:
     * the array grows as the bytes arrive (a mapped reader first checks that the file holds them), so a short
     * stream announcing a long run costs what it sent, not what it announced.
     */
    public byte[] bytes(int n) throws MigrationException {
        if (n < 0 || n > MAX_ARRAY) {
            throw error("byte run length out of range: length=" + n + " max=" + MAX_ARRAY);
        }
        if (mapped != null && n > mapped.byteSize() - offset()) {
            throw truncatedMapping(offset(), n);
        }
        byte[] out = new byte[mapped != null ? n : Math.min(n, FIRST_RUN)];
        int done = 0;
        while (done < n) {
            if (!buf.hasRemaining()) {
                fill(1, n - done);
            }
            if (done == out.length) {
                out = java.util.Arrays.copyOf(out, (int) Math.min(n, 2L * out.length));
            }
            int k = Math.min(buf.remaining(), out.length - done);
            buf.get(out, done, k);
            done += k;
        }
        return out;
    }

    /**
     * At most {@code n} bytes: fewer only where the stream ends first. For a length read from the stream that
     * a reader wants to check against what is really there; grows as the bytes arrive, as {@link #bytes(int)}.
     */
    public byte[] bytesUpTo(int n) throws MigrationException {
        if (n < 0 || n > MAX_ARRAY) {
            throw error("byte run length out of range: length=" + n + " max=" + MAX_ARRAY);
        }
        int there = n;
        if (mapped != null) {
            there = (int) Math.min(n, mapped.byteSize() - offset());
        } else {
            var out = new java.io.ByteArrayOutputStream(Math.min(n, FIRST_RUN));
            while (out.size() < n && peek(0) >= 0) {
                int k = Math.min(buf.remaining(), n - out.size());
                out.write(bytes(k), 0, k);
            }
            return out.toByteArray();
        }
        return bytes(there);
    }

    /** Discards at most {@code n} bytes, fewer only where the stream ends first; returns how many. */
    public long skipUpTo(long n) throws MigrationException {
        if (mapped != null) {
            long k = Math.min(n, mapped.byteSize() - offset());
            skip(k);
            return k;
        }
        long done = 0;
        while (done < n && peek(0) >= 0) {
            int k = (int) Math.min(buf.remaining(), n - done);
            buf.position(buf.position() + k);
            done += k;
        }
        return done;
    }

    /**
     * The next {@code n} bytes: a view of the file for a mapped reader (valid while it is referenced: the
     * mapping outlives the reader), else a copy. {@code n} must already be checked against a limit.
     */
    public MemorySegment view(int n) throws MigrationException {
        if (mapped == null) {
            return MemorySegment.ofArray(bytes(n));
        }
        long at = offset();
        if (n < 0 || n > mapped.byteSize() - at) {
            throw truncatedMapping(at, n);
        }
        skip(n);
        return mapped.asSlice(at, n);
    }

    /** Fills {@code dst} completely with the next bytes of the stream, reading large runs straight into it. */
    public void readFully(MemorySegment dst) throws MigrationException {
        long want = dst.byteSize();
        long done = 0;
        int buffered = Math.min(buf.remaining(), (int) Math.min(want, Integer.MAX_VALUE));
        if (buffered > 0) {
            MemorySegment.copy(view(), buf.position(), dst, 0, buffered);
            buf.position(buf.position() + buffered);
            done = buffered;
        }
        if (done == want) {
            return;
        }
        if (mapped == null && want - done >= buf.capacity() / 2 && dst.isNative()) {
            // direct read into the destination: no intermediate copy
            long start = offset();
            long first = done;
            buf.clear().limit(0);
            base = start;
            while (done < want) {
                long chunk = Math.min(want - done, 1L << 30);
                ByteBuffer target = dst.asSlice(done, chunk).asByteBuffer();
                while (target.hasRemaining()) {
                    if (read(target) < 0) {
                        base = start + (done - first) + target.position();
                        throw new MigrationException("truncated stream: wanted " + target.remaining() + " more bytes",
                                section, base, null);
                    }
                }
                done += chunk;
            }
            base = start + (done - first);
            return;
        }
        while (done < want) {
            fill(1, (int) Math.min(want - done, Integer.MAX_VALUE));
            int k = (int) Math.min(buf.remaining(), want - done);
            MemorySegment.copy(view(), buf.position(), dst, done, k);
            buf.position(buf.position() + k);
            done += k;
        }
    }

    /**
     * Fills each of {@code dsts} completely, in order, with the next bytes of the stream. What is buffered is
     * copied; the rest is read from a scattering channel (a socket) straight into the segments, in as few
     * system calls as the kernel allows: a multifd packet's pages land in guest memory without a copy.
     */
    public void readFully(java.util.List<MemorySegment> dsts) throws MigrationException {
        int first = 0;
        while (first < dsts.size() && buf.hasRemaining()) {
            MemorySegment d = dsts.get(first);
            if (d.byteSize() > buf.remaining() || !d.isNative()) {
                break;
            }
            readFully(d); // wholly buffered: copied
            first++;
        }
        if (first == dsts.size()) {
            return;
        }
        if (mapped != null || !(channel instanceof java.nio.channels.ScatteringByteChannel scatter)
                || !dsts.get(first).isNative()) {
            for (int i = first; i < dsts.size(); i++) {
                readFully(dsts.get(i));
            }
            return;
        }
        long start = offset();
        ByteBuffer[] targets = new ByteBuffer[dsts.size() - first];
        long want = 0;
        for (int i = 0; i < targets.length; i++) {
            MemorySegment d = dsts.get(first + i);
            if (!d.isNative() || d.byteSize() > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("scattering reads go to native segments of at most 2 GiB");
            }
            targets[i] = d.asByteBuffer();
            want += d.byteSize();
        }
        int buffered = buf.remaining(); // less than the first target: it gets these bytes first
        if (buffered > 0) {
            targets[0].put(buf);
        }
        buf.clear().limit(0);
        base = start + buffered;
        long got = buffered;
        int next = 0;
        try {
            while (got < want) {
                while (!targets[next].hasRemaining()) {
                    next++;
                }
                long r = scatter.read(targets, next, targets.length - next);
                if (r < 0) {
                    base = start + got;
                    throw new MigrationException("truncated stream: wanted " + (want - got) + " more bytes", section, base, null);
                }
                got += r;
            }
        } catch (IOException e) {
            base = start + got;
            throw new MigrationException("read failed: " + MigrationException.reason(e), section, base, e);
        }
        base = start + want;
    }

    /** Discards {@code n} bytes. */
    public void skip(long n) throws MigrationException {
        if (mapped != null && n > buf.remaining()) {
            long at = offset();
            if (n > mapped.byteSize() - at) {
                throw truncatedMapping(at, n);
            }
            moveWindow(at + n);
            return;
        }
        while (n > 0) {
            if (!buf.hasRemaining()) {
                fill(1, (int) Math.min(n, Integer.MAX_VALUE));
            }
            int k = (int) Math.min(buf.remaining(), n);
            buf.position(buf.position() + k);
            n -= k;
        }
    }

    /**
     * The byte {@code ahead} positions past the current one without consuming anything, or -1 at the end of
     * the stream. {@code ahead} must be below the buffer capacity (at least 512).
     */
    public int peek(int ahead) throws MigrationException {
        if (ahead < 0 || ahead >= (mapped == null ? buf.capacity() : window)) {
            throw new IllegalArgumentException("peek too far: " + ahead);
        }
        if (buf.remaining() <= ahead) {
            fillUpTo(ahead + 1);
            if (buf.remaining() <= ahead) {
                return -1;
            }
        }
        return buf.get(buf.position() + ahead) & 0xff;
    }

    private MemorySegment view() {
        if (viewOf != buf) {
            view = MemorySegment.ofBuffer(buf.duplicate().clear());
            viewOf = buf;
        }
        return view;
    }

    /** True when every byte of the stream has been consumed. */
    public boolean atEnd() throws MigrationException {
        return peek(0) < 0;
    }

    private void need(int n) throws MigrationException {
        if (buf.remaining() < n) {
            long start = offset();
            fillUpTo(n);
            if (buf.remaining() < n) {
                throw new MigrationException("truncated stream: wanted " + n + " bytes, got " + buf.remaining(),
                        section, start, null);
            }
        }
    }

    /** Makes at least {@code min} bytes available or throws truncated; reads at most what {@code hint} suggests is useful. */
    private void fill(int min, int hint) throws MigrationException {
        long start = offset();
        fillUpTo(min);
        if (buf.remaining() < min) {
            throw new MigrationException("truncated stream: wanted " + hint + " more bytes", section, start, null);
        }
    }

    private void fillUpTo(int n) throws MigrationException {
        if (buf.remaining() >= n || eof) {
            return;
        }
        if (mapped != null) {
            moveWindow(offset());
            return;
        }
        base += buf.position();
        buf.compact();
        try {
            while (buf.position() < n) {
                int r = channel.read(buf);
                if (r < 0) {
                    eof = true;
                    break;
                }
            }
        } catch (IOException e) {
            buf.flip();
            throw new MigrationException("read failed: " + MigrationException.reason(e), section, offset(), e);
        }
        buf.flip();
    }

    private int read(ByteBuffer target) throws MigrationException {
        try {
            return channel.read(target);
        } catch (IOException e) {
            throw new MigrationException("read failed: " + MigrationException.reason(e), section, offset(), e);
        }
    }

    @Override
    public void close() throws MigrationException {
        try {
            channel.close(); // a mapping stays until it and its views are unreachable
        } catch (IOException e) {
            throw new MigrationException("close failed: " + MigrationException.reason(e), section, offset(), e);
        }
    }
}
