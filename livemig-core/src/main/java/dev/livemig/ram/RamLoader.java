package dev.livemig.ram;

import dev.livemig.linux.HostFeatures;
import dev.livemig.machine.DirtyBitmap;
import dev.livemig.machine.RamBlock;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;

import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Destination side of the "ram" section: checks the block list against the local blocks and places every
 * page record straight into its block's memory (§7.4, §7.5). Hostile input is rejected with the record's
 * offset: unknown blocks, offsets outside a block, CONTINUE without a block, unsupported encodings.
 * Used by the load thread only.
 */
public final class RamLoader {
    private final Map<String, RamBlock> blocks = new LinkedHashMap<>();
    /** Per block, pages that may hold data (absent: unknown); a PAGE record sets its bit. */
    private final Map<RamBlock, DirtyBitmap> maybeData = new HashMap<>();
    private RamBlock last; // the block of the previous page record on this channel (CONTINUE)
    private long pagesLoaded;
    private final DecompressThreads decompressor; // null: COMPRESS_PAGE records are inflated on this thread
    private SectionEnd sectionEnd = () -> { };
    private boolean flushRecords;
    private boolean mappedRam;
    private java.nio.file.Path directIo; // mapped-ram page areas read with O_DIRECT from this file; null: the stream
    private java.nio.channels.FileChannel direct; // directIo's channel, opened at its first run, closed by closeDirectIo

    /**
     * What must happen at each multifd sync point before the stream goes on: every RAM section's EOS in 7.2's
     * per-section dialect, every MULTIFD_FLUSH record in current QEMU's per-round dialect. Which one a stream
     * speaks shows in its first RAM section: the per-round dialect flushes before the setup section's EOS.
     */
    @FunctionalInterface
    public interface SectionEnd {
        void reached() throws MigrationException;
    }

    public void atSectionEnd(SectionEnd hook) {
        this.sectionEnd = hook;
    }
    private final java.util.zip.Inflater inflater = new java.util.zip.Inflater();
    private final byte[] compressed = new byte[CompressedPage.MAX_LENGTH];

    public RamLoader(List<RamBlock> localBlocks) {
        this(localBlocks, null, HostFeatures.ALL);
    }

    /**
     * {@code decompressor}: the decompression threads of capability compress, or null to inflate inline;
     * {@code features}: whether the kernel may be asked which pages are populated.
     */
    RamLoader(List<RamBlock> localBlocks, DecompressThreads decompressor, HostFeatures features) {
        this(localBlocks, decompressor, populated(localBlocks, features));
    }

    /** {@code populated}: which pages may hold data, taken before anything (the prefault) touched them. */
    RamLoader(List<RamBlock> localBlocks, DecompressThreads decompressor, Map<RamBlock, DirtyBitmap> populated) {
        this.decompressor = decompressor;
        for (RamBlock b : localBlocks) {
            blocks.put(b.name(), b);
        }
        maybeData.putAll(populated);
    }

    /** Per block, the pages that may hold data (blocks for which that is unknown are left out). */
    static Map<RamBlock, DirtyBitmap> populated(List<RamBlock> blocks, HostFeatures features) {
        Map<RamBlock, DirtyBitmap> out = new HashMap<>();
        for (RamBlock b : blocks) {
            DirtyBitmap populated = PopulatedPages.of(b, features);
            if (populated != null) {
                out.put(b, populated);
            }
        }
        return out;
    }

    /** Page records placed so far (PAGE and ZERO). */
    public long pagesLoaded() {
        return pagesLoaded;
    }

    /** Reads one section body up to and including its EOS record. */
    public void load(StreamReader in, int versionId) throws MigrationException {
        if (versionId != RamFlags.SECTION_VERSION) {
            throw in.error("unsupported ram section version: version=" + versionId + " supported=" + RamFlags.SECTION_VERSION);
        }
        while (true) {
            long at = in.offset();
            long word = in.be64();
            int flags = (int) (word & (RamBlock.TARGET_PAGE_SIZE - 1));
            long addr = word & ~(long) (RamBlock.TARGET_PAGE_SIZE - 1);
            int kind = flags & ~RamFlags.CONTINUE;
            if (mappedRam && kind != RamFlags.EOS && kind != RamFlags.MEM_SIZE) {
                throw in.errorAt(at, "a mapped-ram stream carries no page records: kind=" + RamFlags.name(kind));
            }
            switch (kind) {
                case RamFlags.EOS -> {
                    drainDecompression(in);
                    if (!flushRecords) { // per-section dialect (7.2): every EOS is a multifd sync point
                        syncPoint(in, at);
                    }
                    return;
                }
                case RamFlags.MULTIFD_FLUSH -> {
                    // per-round dialect (current QEMU, machine types 8.1+): the sync points are these records,
                    // and from the first one on, EOS is none
                    flushRecords = true;
                    drainDecompression(in);
                    syncPoint(in, at);
                }
                case RamFlags.MEM_SIZE -> readBlockList(in, at, addr);
                case RamFlags.ZERO -> {
                    MemorySegment page = page(in, at, flags, addr);
                    awaitDecompression(page);
                    int fill = in.u8();
                    DirtyBitmap known = maybeData.get(last);
                    boolean knownZero = known != null && !known.get(addr >>> RamBlock.TARGET_PAGE_BITS);
                    if (fill != 0 || (!knownZero && !ZeroPageDetector.isZero(page))) {
                        page.fill((byte) fill);
                        markData(addr);
                    }
                    pagesLoaded++;
                }
                case RamFlags.PAGE -> {
                    MemorySegment page = page(in, at, flags, addr);
                    awaitDecompression(page);
                    in.readFully(page);
                    markData(addr);
                    pagesLoaded++;
                }
                case RamFlags.COMPRESS_PAGE -> {
                    MemorySegment page = page(in, at, flags, addr);
                    int length = in.be32();
                    if (length < 0 || length > CompressedPage.MAX_LENGTH) {
                        throw in.errorAt(at, "compressed page length outside 0.." + CompressedPage.MAX_LENGTH + ": length=" + length);
                    }
                    awaitDecompression(page);
                    if (decompressor == null) {
                        in.readFully(MemorySegment.ofArray(compressed).asSlice(0, length));
                        try {
                            CompressedPage.decode(compressed, length, inflater, page);
                        } catch (CompressedPage.Malformed e) {
                            throw in.errorAt(at, e.getMessage());
                        }
                    } else {
                        DecompressThreads.Worker w = decompressor.idle();
                        in.readFully(MemorySegment.ofArray(w.input).asSlice(0, length));
                        decompressor.start(w, length, page, at);
                    }
                    markData(addr);
                    pagesLoaded++;
                }
                case RamFlags.XBZRLE -> {
                    MemorySegment page = page(in, at, flags, addr);
                    int encoding = in.u8();
                    if (encoding != RamFlags.ENCODING_XBZRLE) {
                        throw in.errorAt(at, "xbzrle record with an unknown encoding: encoding=" + encoding);
                    }
                    int length = in.be16();
                    if (length > RamBlock.TARGET_PAGE_SIZE) {
                        throw in.errorAt(at, "xbzrle delta longer than a page: length=" + length);
                    }
                    in.readFully(MemorySegment.ofArray(compressed).asSlice(0, length));
                    awaitDecompression(page);
                    try {
                        Xbzrle.decode(compressed, length, page); // onto this end's copy of the page
                    } catch (Xbzrle.Malformed e) {
                        throw in.errorAt(at, e.getMessage());
                    }
                    markData(addr);
                    pagesLoaded++;
                }
                case RamFlags.HOOK ->
                        throw in.errorAt(at, "unsupported ram record: kind=" + RamFlags.name(kind)
                                + " (that encoding is not built in livemig yet)");
                default -> throw in.errorAt(at, String.format("invalid ram record flags: flags=0x%03x", flags));
            }
        }
    }

    private void syncPoint(StreamReader in, long at) throws MigrationException {
        try {
            sectionEnd.reached();
        } catch (MigrationException e) {
            throw in.errorAt(at, e.getMessage());
        }
    }

    /** True once the stream has used MULTIFD_FLUSH records as its multifd sync points (per-round dialect). */
    public boolean usesFlushRecords() {
        return flushRecords;
    }

    private void awaitDecompression(MemorySegment page) {
        if (decompressor != null) {
            decompressor.awaitPage(page);
        }
    }

    /** Every page of the section in place before the next; a payload that failed is reported at its record. */
    private void drainDecompression(StreamReader in) throws MigrationException {
        if (decompressor != null) {
            DecompressThreads.Failure f = decompressor.drain();
            if (f != null) {
                throw in.errorAt(f.recordOffset(), f.reason());
            }
        }
    }

    private void markData(long offset) {
        DirtyBitmap known = maybeData.get(last);
        if (known != null) {
            known.set(offset >>> RamBlock.TARGET_PAGE_BITS);
        }
    }

    /** The block list must name this machine's blocks with their lengths; mapped-ram's block data follows each entry. */
    private void readBlockList(StreamReader in, long at, long total) throws MigrationException {
        RamBlockList.read(in, at, total, RamBlockList.Admission.ANY, (stream, entry, entryAt) -> {
            RamBlock local = blocks.get(entry.name());
            if (local == null) {
                throw stream.errorAt(entryAt, "unknown RAM block in block list: block=" + MigrationException.quote(entry.name())
                        + " known=" + blocks.keySet());
            }
            if (entry.length() != local.usedLength()) {
                throw stream.errorAt(entryAt, String.format("RAM block length differs: block=%s received=0x%x local=0x%x",
                        MigrationException.quote(entry.name()), entry.length(), local.usedLength()));
            }
            if (mappedRam) {
                loadMappedBlock(stream, local);
            }
        });
    }

    /** mapped-ram: the block's pages from its page area, where its bitmap says they are; the rest zero. */
    private void loadMappedBlock(StreamReader in, RamBlock local) throws MigrationException {
        MappedRamBlock mapped = MappedRamBlock.read(in, local.name(), local.usedLength());
        DirtyBitmap known = maybeData.get(local);
        long pages = local.targetPages();
        long page = 0;
        while (page < pages) {
            long next = mapped.pages().nextSet(page); // the next page with data, or none
            long zeroEnd = next < 0 ? pages : next;
            for (long p = page; p < zeroEnd; p++) { // pages without data: zero, and cleared where they held any
                boolean knownZero = known != null && !known.get(p);
                MemorySegment target = local.page(p * RamBlock.TARGET_PAGE_SIZE);
                if (!knownZero && !ZeroPageDetector.isZero(target)) {
                    target.fill((byte) 0);
                }
            }
            in.skip((zeroEnd - page) * RamBlock.TARGET_PAGE_SIZE);
            if (next < 0) {
                break;
            }
            long end = next;
            while (end < pages && mapped.pages().get(end)) {
                end++;
            }
            // a run of pages with data: one read straight into guest memory
            MemorySegment run = local.memory().asSlice(next * RamBlock.TARGET_PAGE_SIZE, (end - next) * RamBlock.TARGET_PAGE_SIZE);
            if (directIo == null) {
                in.readFully(run);
            } else {
                readDirect(in, run, mapped.pagesOffset() + next * RamBlock.TARGET_PAGE_SIZE);
                in.skip(run.byteSize());
            }
            if (known != null) {
                known.setRange(next, end);
            }
            page = end;
        }
        pagesLoaded += pages;
    }

    /** A run of a page area read with O_DIRECT, at its absolute file offset. */
    private void readDirect(StreamReader in, MemorySegment into, long fileOffset) throws MigrationException {
        if (direct == null) {
            direct = DirectIo.open(directIo, false);
        }
        var buf = into.asByteBuffer();
        try {
            long at = fileOffset;
            while (buf.hasRemaining()) {
                int n = direct.read(buf, at);
                if (n < 0) {
                    throw in.errorAt(in.offset(), "mapped-ram page area ends early at file offset " + at + " (direct-io)");
                }
                at += n;
            }
        } catch (java.io.IOException e) {
            throw in.errorAt(in.offset(), "direct-io read at file offset " + fileOffset + " failed: " + e.getMessage());
        }
    }

    /** Closes what direct-io opened; the load is over. */
    public void closeDirectIo() {
        if (direct != null) {
            try {
                direct.close();
            } catch (java.io.IOException e) {
                // only read from: nothing to lose
            }
            direct = null;
        }
    }

    /**
     * The stream is a mapped-ram file (its configuration lists capability mapped-ram): each MEM_SIZE entry is
     * followed by the block's header, bitmap and page area, and no later record may carry a page.
     */
    public void mappedRam(boolean on) {
        this.mappedRam = on;
    }

    /** direct-io: read mapped-ram page areas from {@code file} with O_DIRECT (null: from the stream). */
    public void directIo(java.nio.file.Path file) {
        this.directIo = file;
    }

    private MemorySegment page(StreamReader in, long at, int flags, long offset) throws MigrationException {
        RamBlock block;
        if ((flags & RamFlags.CONTINUE) != 0) {
            block = last;
            if (block == null) {
                throw in.errorAt(at, "CONTINUE page record without a previous block");
            }
        } else {
            String name = in.str8();
            block = blocks.get(name);
            if (block == null) {
                throw in.errorAt(at, "page record names an unknown RAM block: block=" + MigrationException.quote(name));
            }
            last = block;
        }
        if (offset < 0 || offset >= block.usedLength()) { // a word with its top bit set is a negative offset
            throw in.errorAt(at, String.format("page offset out of range: block=%s offset=0x%x length=0x%x",
                    block.name(), offset, block.usedLength()));
        }
        return block.page(offset);
    }
}
