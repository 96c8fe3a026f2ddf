package dev.livemig.ram;

import dev.livemig.machine.DirtyBitmap;
import dev.livemig.machine.RamBlock;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;

/**
 * One block of a mapped-ram file (capability mapped-ram, QEMU 9.0+; format reference §17): after the block's
 * MEM_SIZE entry, a 28-byte header (be32 version 1, be64 page size, be64 bitmap offset, be64 pages offset,
 * offsets absolute in the file), the page bitmap (host-order 64-bit words: little-endian on x86-64, bit set = the
 * page area holds the page) and the page area, page i at {@code pagesOffset + i × TPS}; the stream goes on after
 * the area. Reading goes forward only (QEMU lays a block out in that order), so a pipe serves as well as a file.
 *
 * @param pages        the bitmap: the pages whose data is in the page area; the others are zero
 * @param pagesOffset  where the page area starts; {@link #read} leaves the reader there
 */
public record MappedRamBlock(DirtyBitmap pages, long pagesOffset) {
    public static final int VERSION = 1;
    public static final int HEADER_SIZE = 28;

    /**
     * Reads the header that follows a block's MEM_SIZE entry and the bitmap, and skips to the page area.
     * {@code usedLength} has been checked by the caller (against the local block, or a ceiling): the bitmap
     * is sized by it, never by the file.
     */
    public static MappedRamBlock read(StreamReader in, String block, long usedLength) throws MigrationException {
        long at = in.offset();
        long version = in.be32u();
        if (version != VERSION) {
            throw in.errorAt(at, "Mapped-ram header version " + version + " not supported: block=" + block);
        }
        long pageSize = in.be64();
        if (pageSize != RamBlock.TARGET_PAGE_SIZE) {
            throw in.errorAt(at, "mapped-ram block " + block + " has page size " + pageSize + ", not "
                    + RamBlock.TARGET_PAGE_SIZE);
        }
        long bitmapOffset = in.be64();
        long pagesOffset = in.be64();
        long pageCount = usedLength / RamBlock.TARGET_PAGE_SIZE;
        long bitmapBytes = (pageCount + 63) / 64 * 8;
        if (pagesOffset % RamBlock.TARGET_PAGE_SIZE != 0) {
            throw in.errorAt(at, String.format("Mapped-ram block %s pages offset 0x%x is not aligned to page size 0x%x",
                    block, pagesOffset, RamBlock.TARGET_PAGE_SIZE));
        }
        if (bitmapOffset < in.offset() || bitmapOffset > Long.MAX_VALUE - bitmapBytes
                || pagesOffset < bitmapOffset + bitmapBytes) {
            throw in.errorAt(at, String.format("mapped-ram block %s: bitmap at 0x%x and pages at 0x%x do not follow its "
                    + "header (a bitmap of 0x%x bytes)", block, bitmapOffset, pagesOffset, bitmapBytes));
        }
        in.skip(bitmapOffset - in.offset());
        var pages = new DirtyBitmap(pageCount);
        for (long word = 0; word < bitmapBytes / 8; word++) {
            long bits = Long.reverseBytes(in.be64()); // host order: little-endian
            for (long b = bits; b != 0; b &= b - 1) {
                long page = word * 64 + Long.numberOfTrailingZeros(b);
                if (page >= pageCount) {
                    throw in.errorAt(bitmapOffset, "mapped-ram block " + block + ": bitmap names page " + page
                            + " of " + pageCount);
                }
                pages.set(page);
            }
        }
        in.skip(pagesOffset - in.offset());
        return new MappedRamBlock(pages, pagesOffset);
    }
}
