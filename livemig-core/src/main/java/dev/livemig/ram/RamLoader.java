package dev.livemig.ram;

import dev.livemig.machine.HostFeatures;
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
    private final RamRecords records = new RamRecords(); // the section's grammar; keeps the last named block
    private RamBlock last; // the block of the previous page record (CONTINUE)
    private Map<RamBlock, DirtyBitmap> owed; // postcopy: pages discarded at the switch that must come again
    private Map<RamBlock, DirtyBitmap> received; // postcopy destination: pages that arrived at least once
    private String lastName; // the name it was looked up by
    private long pagesLoaded;
    private final DecompressThreads decompressor; // null: COMPRESS_PAGE records are inflated on this thread
    private SectionEnd sectionEnd = () -> { };
    private boolean flushRecords;
    private boolean mappedRam;
    private boolean ignoreShared; // x-ignore-shared: shared file blocks stay as they are, the list carries addresses
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

    /**
     * Capability x-ignore-shared (checked alike with the source's by the configuration record): the block list
     * carries each block's region address, which must match for every block this side ignores (its shared file
     * holds the content already), and no page may come for such a block.
     */
    public void ignoreShared(boolean on) {
        this.ignoreShared = on;
        records.blockAddresses(on);
    }

    private java.util.function.Consumer<String> blockFed = name -> { };

    /** Told the name of each block a page record names, once per run of records for it (x-ignore-shared's check). */
    public void onBlockFed(java.util.function.Consumer<String> hook) {
        this.blockFed = hook;
    }

    private boolean keepAllInPlace; // cpr-transfer: every block is the sender's own memory, handed over

    /** cpr-transfer (QEMU's migrate_ram_is_ignored): the stream lists every block and may carry no page at all. */
    public void keepAllInPlace(boolean on) {
        this.keepAllInPlace = on;
    }

    private boolean ignored(RamBlock block) {
        return keepAllInPlace || block.keptInPlace(ignoreShared);
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
            RamRecord record = records.next(in, RamBlockList.Admission.ANY, this::checkEntry);
            long at = record.at();
            if (mappedRam && !(record instanceof RamRecord.End || record instanceof RamRecord.BlockList)) {
                throw in.errorAt(at, "a mapped-ram stream carries no page records: kind=" + record.kind());
            }
            switch (record) {
                case RamRecord.End end -> {
                    drainDecompression(in);
                    if (!flushRecords) { // per-section dialect (7.2): every EOS is a multifd sync point
                        syncPoint(in, at);
                    }
                    return;
                }
                case RamRecord.MultifdFlush flush -> {
                    // per-round dialect (current QEMU, machine types 8.1+): the sync points are these records,
                    // and from the first one on, EOS is none
                    flushRecords = true;
                    drainDecompression(in);
                    syncPoint(in, at);
                }
                case RamRecord.BlockList list -> {
                    // each entry was checked against the local blocks as it came (checkEntry)
                }
                case RamRecord.Zero zero -> {
                    MemorySegment page = page(in, at, zero.block(), zero.offset());
                    awaitDecompression(page);
                    DirtyBitmap known = maybeData.get(last);
                    boolean knownZero = known != null && !known.get(zero.offset() >>> RamBlock.TARGET_PAGE_BITS);
                    if (zero.fill() != 0 || (!knownZero && !ZeroPageDetector.isZero(page))) {
                        page.fill((byte) zero.fill());
                        markData(zero.offset());
                    }
                    arrived(zero.offset());
                    pagesLoaded++;
                }
                case RamRecord.Page data -> {
                    MemorySegment page = page(in, at, data.block(), data.offset());
                    awaitDecompression(page);
                    in.readFully(page);
                    markData(data.offset());
                    arrived(data.offset());
                    pagesLoaded++;
                }
                case RamRecord.Compressed c -> {
                    MemorySegment page = page(in, at, c.block(), c.offset());
                    awaitDecompression(page);
                    if (decompressor == null) {
                        in.readFully(MemorySegment.ofArray(compressed).asSlice(0, c.length()));
                        try {
                            CompressedPage.decode(compressed, c.length(), inflater, page);
                        } catch (CompressedPage.Malformed e) {
                            throw in.errorAt(at, e.getMessage());
                        }
                    } else {
                        DecompressThreads.Worker w = decompressor.idle();
                        in.readFully(MemorySegment.ofArray(w.input).asSlice(0, c.length()));
                        decompressor.start(w, c.length(), page, at);
                    }
                    markData(c.offset());
                    arrived(c.offset());
                    pagesLoaded++;
                }
                case RamRecord.Xbzrle x -> {
                    MemorySegment page = page(in, at, x.block(), x.offset());
                    in.readFully(MemorySegment.ofArray(compressed).asSlice(0, x.length()));
                    awaitDecompression(page);
                    try {
                        Xbzrle.decode(compressed, x.length(), page); // onto this end's copy of the page
                    } catch (Xbzrle.Malformed e) {
                        throw in.errorAt(at, e.getMessage());
                    }
                    markData(x.offset());
                    arrived(x.offset());
                    pagesLoaded++;
                }
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

    /**
     * Postcopy: the destination dropped {@code length} bytes of {@code block} from {@code offset} (a DISCARD at
     * the switch); every page of the range must arrive again before the stream ends ({@link #pagesOwed}).
     * Offset and length must be whole target pages inside the block (the caller checked).
     */
    public void expectAgain(RamBlock block, long offset, long length) {
        if (owed == null) {
            owed = new HashMap<>();
        }
        owed.computeIfAbsent(block, b -> new DirtyBitmap(b.targetPages()))
                .setRange(offset >>> RamBlock.TARGET_PAGE_BITS, (offset + length) >>> RamBlock.TARGET_PAGE_BITS);
    }

    /** Pages dropped by {@link #expectAgain} that have not arrived since; 0 when every one did. */
    public long pagesOwed() {
        return owed == null ? 0 : owed.values().stream().mapToLong(DirtyBitmap::count).sum();
    }

    /** The first page still owed, as "block offset 0x…", or null. */
    public String firstPageOwed() {
        if (owed != null) {
            for (RamBlock b : blocks.values()) {
                DirtyBitmap bits = owed.get(b);
                long page = bits == null ? -1 : bits.nextSet(0);
                if (page >= 0) {
                    return b.name() + " offset 0x" + Long.toHexString(page << RamBlock.TARGET_PAGE_BITS);
                }
            }
        }
        return null;
    }

    /** Postcopy destination: from now on note every page that arrives ({@link #missing}). */
    public void trackReceived() {
        received = new HashMap<>();
        for (RamBlock b : blocks.values()) {
            received.put(b, new DirtyBitmap(b.targetPages()));
        }
    }

    /**
     * Postcopy destination, at LISTEN: per block (in {@code order}), the pages the source has still to send: those
     * that never arrived, and those discarded at the switch.
     */
    public List<DirtyBitmap> missing(List<RamBlock> order) {
        var out = new java.util.ArrayList<DirtyBitmap>();
        for (RamBlock b : order) {
            var bits = new DirtyBitmap(b.targetPages());
            DirtyBitmap got = received == null ? null : received.get(b);
            DirtyBitmap due = owed == null ? null : owed.get(b);
            for (long page = 0; page < bits.size(); page++) {
                if (got == null || !got.get(page) || (due != null && due.get(page))) {
                    bits.set(page);
                }
            }
            out.add(bits);
        }
        return out;
    }

    private void arrived(long offset) {
        if (received != null) {
            DirtyBitmap bits = received.get(last);
            if (bits != null) {
                bits.set(offset >>> RamBlock.TARGET_PAGE_BITS);
            }
        }
        if (owed != null) {
            DirtyBitmap bits = owed.get(last);
            if (bits != null) {
                bits.testAndClear(offset >>> RamBlock.TARGET_PAGE_BITS);
            }
        }
    }

    private void markData(long offset) {
        DirtyBitmap known = maybeData.get(last);
        if (known != null) {
            known.set(offset >>> RamBlock.TARGET_PAGE_BITS);
        }
    }

    /** A block list entry must name one of this machine's blocks with its length; mapped-ram's block data follows it. */
    private void checkEntry(StreamReader in, RamBlockList.Entry entry, long entryAt) throws MigrationException {
        RamBlock local = blocks.get(entry.name());
        if (local == null) {
            throw in.errorAt(entryAt, "unknown RAM block in block list: block=" + MigrationException.quote(entry.name())
                    + " known=" + blocks.keySet());
        }
        if (entry.length() != local.usedLength()) {
            throw in.errorAt(entryAt, String.format("RAM block length differs: block=%s received=0x%x local=0x%x",
                    MigrationException.quote(entry.name()), entry.length(), local.usedLength()));
        }
        if (ignored(local) && entry.hasAddress() && entry.address() != RamBlock.REGION_ADDRESS) {
            throw in.errorAt(entryAt, String.format("mismatched address of shared RAM block %s: received=0x%x local=0x%x",
                    MigrationException.quote(entry.name()), entry.address(), RamBlock.REGION_ADDRESS));
        }
        if (mappedRam) {
            loadMappedBlock(in, local);
        }
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

    /** The page a record places: its block looked up once per name (CONTINUE reuses the same String), its offset checked. */
    private MemorySegment page(StreamReader in, long at, String name, long offset) throws MigrationException {
        if (name != lastName) {
            RamBlock block = blocks.get(name);
            if (block == null) {
                throw in.errorAt(at, "page record names an unknown RAM block: block=" + MigrationException.quote(name));
            }
            if (ignored(block)) {
                throw in.errorAt(at, "page record for a RAM block kept in place (x-ignore-shared or cpr-transfer): block="
                        + MigrationException.quote(name));
            }
            last = block;
            lastName = name;
            blockFed.accept(name);
        }
        RamBlock block = last;
        if (offset < 0 || offset >= block.usedLength()) { // a word with its top bit set is a negative offset
            throw in.errorAt(at, String.format("page offset out of range: block=%s offset=0x%x length=0x%x",
                    block.name(), offset, block.usedLength()));
        }
        return block.page(offset);
    }
}
