package dev.livemig.multifd;

import com.github.luben.zstd.EndDirective;
import com.github.luben.zstd.ZstdCompressCtx;
import com.github.luben.zstd.ZstdDecompressCtx;
import com.github.luben.zstd.ZstdException;
import dev.livemig.machine.RamBlock;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * multifd-compression zstd (§9.8): one zstd stream per channel for the whole migration, never ended; each
 * packet's pages are streamed in order, the last with a flush, and the packet carries exactly that output.
 * The receiver decompresses exactly one page per offset. Buffers are direct, as libzstd wants them.
 */
public final class ZstdChannelCodec {
    public static final int MAX_PAYLOAD = ZlibChannelCodec.MAX_PAYLOAD;

    private ZstdChannelCodec() {
    }

    /** The sending half of one channel. */
    public static final class Encoder implements AutoCloseable {
        private final ZstdCompressCtx ctx = new ZstdCompressCtx();
        private final ByteBuffer page = ByteBuffer.allocateDirect(RamBlock.TARGET_PAGE_SIZE);
        private final ByteBuffer out = ByteBuffer.allocateDirect(MAX_PAYLOAD);

        public Encoder(int level) {
            ctx.setLevel(level);
        }

        /** Compresses one packet's pages; the payload is {@link #payload()} from 0 to the returned length. */
        public int encode(List<MemorySegment> pages) {
            out.clear();
            for (int i = 0; i < pages.size(); i++) {
                page.clear();
                MemorySegment.ofBuffer(page).copyFrom(pages.get(i)); // a private copy: the guest may write on
                EndDirective op = i == pages.size() - 1 ? EndDirective.FLUSH : EndDirective.CONTINUE;
                boolean done;
                do {
                    done = ctx.compressDirectByteBufferStream(out, page, op);
                    if (!out.hasRemaining()) {
                        throw new IllegalStateException("zstd output exceeds twice the packet's pages");
                    }
                } while (page.hasRemaining() || (op == EndDirective.FLUSH && !done));
            }
            return out.position();
        }

        public ByteBuffer payload() {
            return out.duplicate().flip();
        }

        @Override
        public void close() {
            ctx.close();
        }
    }

    /** The receiving half of one channel. */
    public static final class Decoder implements AutoCloseable {
        private final ZstdDecompressCtx ctx = new ZstdDecompressCtx();
        private final ByteBuffer in = ByteBuffer.allocateDirect(MAX_PAYLOAD);
        private final ByteBuffer page = ByteBuffer.allocateDirect(RamBlock.TARGET_PAGE_SIZE);

        /** Where the caller puts a payload (at most {@link #MAX_PAYLOAD} bytes) before {@link #decode}. */
        public MemorySegment input() {
            return MemorySegment.ofBuffer(in.clear());
        }

        /** Decompresses {@code length} payload bytes into {@code pages}, exactly one page each. */
        public void decode(int length, List<MemorySegment> pages) throws MalformedPayload {
            if (length < 0 || length > MAX_PAYLOAD) {
                throw new MalformedPayload("compressed payload of " + length + " bytes outside 0.." + MAX_PAYLOAD);
            }
            in.clear().limit(length);
            long total = 0;
            try {
                for (MemorySegment target : pages) {
                    page.clear();
                    while (page.hasRemaining()) {
                        int before = page.position();
                        int inBefore = in.position();
                        ctx.decompressDirectByteBufferStream(page, in);
                        if (page.position() == before && in.position() == inBefore) {
                            break; // no progress: the payload has no more for this page
                        }
                    }
                    total += page.position();
                    MemorySegment.copy(MemorySegment.ofBuffer(page.flip()), 0, target, 0, Math.min(page.limit(), target.byteSize()));
                }
            } catch (ZstdException e) {
                throw new MalformedPayload("zstd stream broken: " + e.getMessage());
            }
            long expected = (long) pages.size() * RamBlock.TARGET_PAGE_SIZE;
            if (total != expected || in.hasRemaining()) {
                throw new MalformedPayload("packet size received " + total + " size expected " + expected
                        + (in.hasRemaining() ? " (" + in.remaining() + " bytes left over)" : ""));
            }
        }

        @Override
        public void close() {
            ctx.close();
        }
    }
}
