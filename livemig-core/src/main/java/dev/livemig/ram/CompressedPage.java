package dev.livemig.ram;

import dev.livemig.machine.RamBlock;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.zip.DataFormatException;
import java.util.zip.Deflater;
import java.util.zip.Inflater;

/**
 * The payload of a COMPRESS_PAGE record (capability compress, QEMU 7.2's legacy multi-thread compression):
 * one target page as a complete zlib stream of its own (the deflate state is reset for every page and
 * finished with Z_FINISH), preceded on the wire by its be32 length. The length can never exceed zlib's
 * compressBound of a page, which is what a destination accepts.
 */
public final class CompressedPage {
    /** zlib's compressBound(4096): 4096 + (4096 >> 12) + (4096 >> 14) + (4096 >> 25) + 13. */
    public static final int MAX_LENGTH = RamBlock.TARGET_PAGE_SIZE + (RamBlock.TARGET_PAGE_SIZE >> 12)
            + (RamBlock.TARGET_PAGE_SIZE >> 14) + (RamBlock.TARGET_PAGE_SIZE >> 25) + 13;

    private CompressedPage() {
    }

    /**
     * Compresses {@code page} into {@code out} (at least {@link #MAX_LENGTH} bytes) with {@code deflater}
     * (zlib format, the compress-level); returns the length. The deflater is reset first, as QEMU resets its
     * stream for each page, so pages decode independently.
     */
    public static int encode(MemorySegment page, Deflater deflater, byte[] out) {
        if (page.byteSize() != RamBlock.TARGET_PAGE_SIZE || out.length < MAX_LENGTH) {
            throw new IllegalArgumentException("a page of " + RamBlock.TARGET_PAGE_SIZE + " bytes into " + MAX_LENGTH + " or more");
        }
        deflater.reset();
        deflater.setInput(page.asByteBuffer());
        deflater.finish();
        int n = deflater.deflate(out, 0, out.length); // with finish(): Z_FINISH, as QEMU
        if (!deflater.finished()) {
            throw new IllegalStateException("zlib exceeded compressBound for one page"); // zlib guarantees it cannot
        }
        return n;
    }

    /** Why a payload was refused; the loader adds the record's offset. */
    public static final class Malformed extends Exception {
        Malformed(String message) {
            super(message);
        }
    }

    /**
     * Inflates {@code length} bytes of {@code in} into {@code page}: it must be one complete zlib stream
     * holding exactly one page. Nothing else is accepted (QEMU's uncompress would fail the same inputs).
     */
    public static void decode(byte[] in, int length, Inflater inflater, MemorySegment page) throws Malformed {
        if (length < 0 || length > MAX_LENGTH) {
            throw new Malformed("compressed page length " + length + " outside 0.." + MAX_LENGTH);
        }
        inflater.reset();
        inflater.setInput(in, 0, length);
        ByteBuffer target = page.asByteBuffer();
        try {
            int n = inflater.inflate(target);
            if (n != RamBlock.TARGET_PAGE_SIZE || !inflater.finished()) {
                // either short, or more data would follow: one byte more than a page is refused too
                int extra = inflater.finished() ? 0 : inflater.inflate(new byte[1]);
                throw new Malformed("compressed page inflates to " + (extra > 0 ? "more than " + n : Integer.toString(n))
                        + " bytes, not one page of " + RamBlock.TARGET_PAGE_SIZE);
            }
            if (inflater.getRemaining() != 0) {
                throw new Malformed("compressed page has " + inflater.getRemaining() + " bytes after its zlib stream");
            }
        } catch (DataFormatException e) {
            throw new Malformed("compressed page is not a zlib stream: " + e.getMessage());
        }
    }
}
