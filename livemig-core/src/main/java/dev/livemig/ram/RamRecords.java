package dev.livemig.ram;

import dev.livemig.machine.RamBlock;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;

/**
 * The grammar of a "ram" section body (§7.1 to §7.6), read once for every reader: the destination's loader,
 * analyze and (through the loader) record and snapshots. Each call reads one record's word, its block name
 * unless CONTINUE reuses the last one, and the fixed part of its payload, with QEMU's rules: one kind per
 * word (QEMU's ram_load switches on the flags without CONTINUE, so a word combining kinds is refused), no
 * CONTINUE before a block was named, COMPRESS_PAGE and XBZRLE lengths bounded, XBZRLE's encoding byte known,
 * RAM hooks (RDMA) not built. One instance per RAM section id: the block named last carries over from one
 * part of the section to the next, as on the wire. The name a CONTINUE record reuses is the same String, so
 * a consumer may cache what it looked up by identity.
 */
public final class RamRecords {
    private String block; // named by the last record that named one
    private boolean blockAddresses; // x-ignore-shared: block list entries carry guest-physical addresses

    /** Capability x-ignore-shared of the stream (the configuration lists it): block list entries carry addresses. */
    public RamRecords blockAddresses(boolean on) {
        this.blockAddresses = on;
        return this;
    }

    /**
     * The next record; a MEM_SIZE record's entries are checked by {@link RamBlockList} (admitted by
     * {@code admission}, handed to {@code onEntry} as they come).
     */
    public RamRecord next(StreamReader in, RamBlockList.Admission admission, RamBlockList.EntryReader onEntry)
            throws MigrationException {
        long at = in.offset();
        long word = in.be64();
        int flags = (int) (word & (RamBlock.TARGET_PAGE_SIZE - 1));
        long addr = word & ~(long) (RamBlock.TARGET_PAGE_SIZE - 1);
        int kind = flags & ~RamFlags.CONTINUE;
        return switch (kind) {
            case RamFlags.EOS -> new RamRecord.End(at);
            case RamFlags.MULTIFD_FLUSH -> new RamRecord.MultifdFlush(at);
            case RamFlags.MEM_SIZE -> new RamRecord.BlockList(at, RamBlockList.read(in, at, addr, admission, onEntry, blockAddresses));
            case RamFlags.ZERO -> {
                String b = block(in, at, flags);
                yield new RamRecord.Zero(at, b, addr, in.u8());
            }
            case RamFlags.PAGE -> new RamRecord.Page(at, block(in, at, flags), addr);
            case RamFlags.COMPRESS_PAGE -> {
                String b = block(in, at, flags);
                int length = in.be32();
                if (length < 0 || length > CompressedPage.MAX_LENGTH) {
                    throw in.errorAt(at, "compressed page length outside 0.." + CompressedPage.MAX_LENGTH + ": length="
                            + Integer.toUnsignedString(length));
                }
                yield new RamRecord.Compressed(at, b, addr, length);
            }
            case RamFlags.XBZRLE -> {
                String b = block(in, at, flags);
                int encoding = in.u8();
                if (encoding != RamFlags.ENCODING_XBZRLE) {
                    throw in.errorAt(at, "xbzrle record with an unknown encoding: encoding=" + encoding);
                }
                int length = in.be16();
                if (length > RamBlock.TARGET_PAGE_SIZE) {
                    throw in.errorAt(at, "xbzrle delta longer than a page: length=" + length);
                }
                yield new RamRecord.Xbzrle(at, b, addr, length);
            }
            case RamFlags.HOOK -> throw in.errorAt(at, "unsupported ram record: kind=" + RamFlags.name(kind)
                    + " (that encoding is not built in livemig yet)");
            default -> throw in.errorAt(at, String.format("invalid ram record flags: flags=0x%03x", flags));
        };
    }

    private String block(StreamReader in, long at, int flags) throws MigrationException {
        if ((flags & RamFlags.CONTINUE) != 0) {
            if (block == null) {
                throw in.errorAt(at, "CONTINUE page record without a previous block");
            }
            return block;
        }
        block = in.str8();
        return block;
    }
}
