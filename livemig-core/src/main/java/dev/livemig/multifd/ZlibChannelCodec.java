package dev.livemig.multifd;

import dev.livemig.machine.RamBlock;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.zip.DataFormatException;
import java.util.zip.Deflater;
import java.util.zip.Inflater;

/**
 * multifd-compression zlib (§9.7): one zlib stream per channel for the whole migration, never reset; each
 * packet's pages are fed in order, the last with a sync flush, and the packet carries exactly the output
 * that produced. The receiver inflates exactly one page per offset and nothing more.
 */
public final class ZlibChannelCodec {
    /** QEMU's receive buffer: twice the pages of a packet; a larger payload is refused before reading it. */
    public static final int MAX_PAYLOAD = 2 * MultifdPacket.PAGES_PER_PACKET * RamBlock.TARGET_PAGE_SIZE;

    private ZlibChannelCodec() {
    }

    /** The sending half of one channel. */
    public static final class Encoder implements AutoCloseable {
        private final Deflater deflater;
        private final byte[] page = new byte[RamBlock.TARGET_PAGE_SIZE];
        private final byte[] out = new byte[MAX_PAYLOAD];

        public Encoder(int level) {
            this.deflater = new Deflater(level); // zlib wrapper: the stream's header opens the first payload
        }

        /** Compresses {@code pages} (one packet's worth, in offset order); returns the length of {@link #payload()}. */
        public int encode(List<MemorySegment> pages) {
            int n = 0;
            for (int i = 0; i < pages.size(); i++) {
                // a private copy: the guest may write the page while zlib reads it
                MemorySegment.copy(pages.get(i), java.lang.foreign.ValueLayout.JAVA_BYTE, 0, page, 0, page.length);
                deflater.setInput(page);
                int flush = i == pages.size() - 1 ? Deflater.SYNC_FLUSH : Deflater.NO_FLUSH;
                do { // until zlib has taken the whole page (and, for the last, flushed all it holds)
                    n += deflater.deflate(out, n, out.length - n, flush);
                    if (n == out.length) {
                        throw new IllegalStateException("zlib output exceeds twice the packet's pages");
                    }
                } while (!deflater.needsInput());
            }
            return n;
        }

        public byte[] payload() {
            return out;
        }

        @Override
        public void close() {
            deflater.end();
        }
    }

    /** The receiving half of one channel. */
    public static final class Decoder implements AutoCloseable {
        private final Inflater inflater = new Inflater();
        private final byte[] in = new byte[MAX_PAYLOAD];

        /** Where the caller reads a payload of at most {@link #MAX_PAYLOAD} bytes before {@link #decode}. */
        public byte[] input() {
            return in;
        }

        /** Inflates {@code length} payload bytes into {@code pages}, exactly one page each. */
        public void decode(int length, List<MemorySegment> pages) throws MalformedPayload {
            if (length < 0 || length > MAX_PAYLOAD) {
                throw new MalformedPayload("compressed payload of " + length + " bytes outside 0.." + MAX_PAYLOAD);
            }
            inflater.setInput(in, 0, length);
            long total = 0;
            try {
                for (MemorySegment page : pages) {
                    ByteBuffer target = page.asByteBuffer();
                    while (target.hasRemaining()) {
                        int got = inflater.inflate(target);
                        total += got;
                        if (got == 0 && (inflater.needsInput() || inflater.finished() || inflater.needsDictionary())) {
                            break;
                        }
                    }
                }
            } catch (DataFormatException e) {
                throw new MalformedPayload("zlib stream broken: " + e.getMessage());
            }
            long expected = (long) pages.size() * RamBlock.TARGET_PAGE_SIZE;
            if (total != expected || inflater.getRemaining() != 0) {
                throw new MalformedPayload("packet size received " + total + " size expected " + expected
                        + (inflater.getRemaining() != 0 ? " (" + inflater.getRemaining() + " bytes left over)" : ""));
            }
        }

        @Override
        public void close() {
            inflater.end();
        }
    }
}
