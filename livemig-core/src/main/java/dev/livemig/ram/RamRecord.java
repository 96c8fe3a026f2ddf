package dev.livemig.ram;

import java.util.List;

/**
 * One record of a "ram" section body (§7.5, §7.6), as {@link RamRecords} reads it: the address word's kind,
 * the block it names (resolved for CONTINUE), its offset and the fixed part of its payload. A page's data
 * (PAGE: one target page; COMPRESS_PAGE and XBZRLE: {@code length} bytes) is left in the stream for the
 * consumer to read into its own place (guest memory, a dump, a file) or to skip. {@code at} is the stream
 * offset of the record's word, for errors.
 */
public sealed interface RamRecord {
    long at();

    /** MEM_SIZE: the block list (each entry handed to the reader's {@link RamBlockList.EntryReader} as it came). */
    record BlockList(long at, List<RamBlockList.Entry> entries) implements RamRecord {
    }

    /** ZERO: the page is filled with {@code fill} (QEMU sends 0). */
    record Zero(long at, String block, long offset, int fill) implements RamRecord {
    }

    /** PAGE: one target page of data follows. */
    record Page(long at, String block, long offset) implements RamRecord {
    }

    /** COMPRESS_PAGE (7.2's compress): {@code length} bytes of a zlib stream follow, at most {@link CompressedPage#MAX_LENGTH}. */
    record Compressed(long at, String block, long offset, int length) implements RamRecord {
    }

    /** XBZRLE: a delta of {@code length} bytes (at most a page) against the receiver's copy follows. */
    record Xbzrle(long at, String block, long offset, int length) implements RamRecord {
    }

    /** MULTIFD_FLUSH (current QEMU's per-round dialect): the multifd channels sync here. */
    record MultifdFlush(long at) implements RamRecord {
    }

    /** EOS: the end of the section body. */
    record End(long at) implements RamRecord {
    }

    /** The record's kind as {@link RamFlags#name} names it. */
    default String kind() {
        return switch (this) {
            case BlockList b -> RamFlags.name(RamFlags.MEM_SIZE);
            case Zero z -> RamFlags.name(RamFlags.ZERO);
            case Page p -> RamFlags.name(RamFlags.PAGE);
            case Compressed c -> RamFlags.name(RamFlags.COMPRESS_PAGE);
            case Xbzrle x -> RamFlags.name(RamFlags.XBZRLE);
            case MultifdFlush f -> RamFlags.name(RamFlags.MULTIFD_FLUSH);
            case End e -> RamFlags.name(RamFlags.EOS);
        };
    }
}
