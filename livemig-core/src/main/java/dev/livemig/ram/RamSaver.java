package dev.livemig.ram;

import dev.livemig.machine.HostFeatures;
import dev.livemig.machine.DirtyBitmap;
import dev.livemig.machine.DirtyTracker;
import dev.livemig.machine.MachineCompat;
import dev.livemig.machine.RamBlock;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamWriter;
import dev.livemig.wire.format.MigrationCommand.PostcopyRamDiscard;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Source side of the "ram" section: the block list, then dirty pages as ZERO or PAGE records (§7).
 *
 * <p>Each block has a migration bitmap of pages still to send. At setup every page is set and the
 * {@link DirtyTracker} is armed; a sync lets the tracker add what the guest wrote to the blocks' dirty logs
 * (plain writes, with the userfaultfd tracker; markDirty calls always count) and moves the logs into it. Pages are found by a cursor that walks blocks in list order and wraps
 * (one wrap = one round). Page payloads are queued on the writer by reference, never copied through the heap.
 * Used by the migration thread only.
 */
public final class RamSaver {
    private static final long ITERATE_TIME_LIMIT_NS = 50_000_000L; // QEMU's 50 ms cap per iterate call

    private final List<RamBlock> blocks;
    private final DirtyBitmap[] toSend;
    private boolean ignoreShared; // x-ignore-shared: shared file blocks listed, never sent
    /** Per block, pages that may hold data (null: unknown); only trusted until the first sync after setup. */
    private DirtyBitmap[] maybeData;
    private final RamCounters counters;
    private final DirtyTracker tracker;
    private final RamOptions options;
    private final PageChannels channels; // multifd: non-zero pages go there; null: all on the main stream
    private final boolean syncPerSection; // multifd sync at every EOS (7.2) or per pass with MULTIFD_FLUSH
    private final boolean zeroPagesInPackets; // multifd: zero pages listed in packets (current) or ZERO records (7.2)
    private final boolean detectZeroPages; // zero-page-detection none: every page goes with its 4 KiB, as in QEMU
    private int mappedRamWriters; // mapped-ram: pages at fixed file offsets, by this many writers (0: a stream)
    private MappedRamWriter mapped; // from setup, with mapped-ram
    private java.nio.file.Path mappedRamDirectIo; // the file, to write page areas with O_DIRECT; null: buffered
    private CompressThreads compressor; // while a migration with compress runs
    private final long[] blockBase;     // each block's start in one address space, as QEMU's ram_addr
    private XbzrleCache cache;          // while a migration with xbzrle runs
    private volatile long cacheResize;  // a new size asked for from another thread; 0: none
    private boolean xbzrleActive;       // after the first round, as in QEMU
    private boolean lastStage;          // in complete(): the machine is paused, the cache no longer matters
    private final byte[] current = new byte[RamBlock.TARGET_PAGE_SIZE];
    private final byte[] previous = new byte[RamBlock.TARGET_PAGE_SIZE];
    private final byte[] delta = new byte[RamBlock.TARGET_PAGE_SIZE];
    private static final MemorySegment ZERO_PAGE = MemorySegment.ofArray(new byte[RamBlock.TARGET_PAGE_SIZE]);
    private final HostFeatures features;
    private long dirtyPages;
    private int cursorBlock;
    private long cursorPage;
    private RamBlock lastSent; // for CONTINUE; survives sections, as in QEMU
    private PageRequests requests; // postcopy-ram: what the destination asks for; null without postcopy
    private boolean inPostcopy;    // after the switch: whole pages on the main stream, requested ones first
    private boolean releaseRam;    // release-ram: pages sent in postcopy go back to the system once confirmed
    private StreamWriter preempt;  // postcopy-preempt, from the switch: where requested pages go
    private RamBlock lastSentOnPreempt; // CONTINUE is per channel (§12.7)
    private List<long[]> sentOnPreempt = new ArrayList<>(); // release-ram: released only on SHUT(0)
    private final java.util.ArrayDeque<ReleaseBatch> unconfirmed = new java.util.ArrayDeque<>();
    private List<long[]> sentSinceBatch = new ArrayList<>(); // {block, first page, end page} runs
    private long rounds;
    private long periodStartNs;
    private long periodDirtyPages;

    /** A saver whose dirty tracking relies on the application's markDirty calls. */
    public RamSaver(List<RamBlock> blocks, RamCounters counters) {
        this(blocks, counters, new dev.livemig.machine.ExplicitDirtyTracker());
    }

    /** {@code tracker} is armed at setup and stopped by {@link #cleanup()}; the caller closes it. */
    public RamSaver(List<RamBlock> blocks, RamCounters counters, DirtyTracker tracker) {
        this(blocks, counters, tracker, RamOptions.PLAIN);
    }

    public RamSaver(List<RamBlock> blocks, RamCounters counters, DirtyTracker tracker, RamOptions options) {
        this(blocks, counters, tracker, options, null, HostFeatures.ALL);
    }

    /**
     * With {@code channels} (multifd), non-zero pages travel there and zero pages stay on the main stream as
     * in QEMU 7.2; multifd then takes precedence over XBZRLE, which 7.2 only applies on the main stream.
     * {@code features} says whether the kernel may be asked which pages were never populated.
     */
    public RamSaver(List<RamBlock> blocks, RamCounters counters, DirtyTracker tracker, RamOptions options,
                    PageChannels channels, HostFeatures features) {
        this(blocks, counters, tracker, options, channels, features, MachineCompat.QEMU_7_2);
    }

    /**
     * {@code dialect} says how multifd is spoken: 7.2's syncs at every section's EOS and keeps zero pages on the
     * main stream; current QEMU's syncs at the end of setup and of every pass over RAM, each marked by a
     * MULTIFD_FLUSH record (and once more before the last section's EOS, so the destination has every page before
     * the device state), and lists zero pages inside the packets.
     */
    public RamSaver(List<RamBlock> blocks, RamCounters counters, DirtyTracker tracker, RamOptions options,
                    PageChannels channels, HostFeatures features, MachineCompat dialect) {
        this.syncPerSection = dialect.multifdFlushAfterEachSection();
        ZeroPageDetection zp = options.zeroPages();
        this.zeroPagesInPackets = zp == null ? dialect.multifdZeroPages() : zp == ZeroPageDetection.MULTIFD;
        this.detectZeroPages = zp != ZeroPageDetection.NONE;
        this.channels = channels;
        this.features = features;
        this.blocks = List.copyOf(blocks);
        this.counters = counters;
        this.tracker = tracker;
        this.options = options;
        this.blockBase = new long[this.blocks.size()];
        for (int i = 1; i < blockBase.length; i++) {
            blockBase[i] = blockBase[i - 1] + this.blocks.get(i - 1).usedLength();
        }
        this.toSend = new DirtyBitmap[this.blocks.size()];
        for (int i = 0; i < toSend.length; i++) {
            toSend[i] = new DirtyBitmap(this.blocks.get(i).targetPages());
        }
    }

    /**
     * Lays RAM out as mapped-ram (capability mapped-ram, §17) instead of streaming pages: each page at its fixed
     * offset of the file, written again when the guest dirtied it, by {@code writers} threads (1: the migration
     * thread; more: multifd's channels, which with mapped-ram only write). 0 switches it off. Set before setup.
     */
    public void mappedRam(int writers) {
        mappedRam(writers, null);
    }

    /** As {@link #mappedRam(int)}; {@code directIo}: the file's path, to write the page areas with O_DIRECT. */
    public void mappedRam(int writers, java.nio.file.Path directIo) {
        if (writers < 0) {
            throw new IllegalArgumentException("writers: " + writers);
        }
        this.mappedRamWriters = writers;
        this.mappedRamDirectIo = directIo;
    }

    /** Capability postcopy-ram: the queue the return path fills with the destination's page requests. Set before setup. */
    public void postcopyRequests(PageRequests queue) {
        this.requests = queue;
    }

    /** Capability release-ram (with postcopy-ram): see {@link #closeBatch}. Set before setup. */
    public void releaseRam(boolean on) {
        this.releaseRam = on;
    }

    /** Pages sent, waiting for the destination's answer to PING({@code ping}) before they are released. */
    private record ReleaseBatch(long ping, List<long[]> runs) {
    }

    /**
     * release-ram, at the switch: every page already sent and not dirtied since is released once the destination
     * answers PING({@code ping}), which follows them on the stream (the destination answers in stream order, so
     * its PONG says it has read, and placed, everything before).
     */
    public void closeSwitchBatch(long ping) {
        var runs = new ArrayList<long[]>();
        for (int i = 0; i < blocks.size(); i++) {
            long size = toSend[i].size();
            for (long from = toSend[i].nextClear(0); from < size; ) {
                long to = toSend[i].nextSet(from);
                to = to < 0 ? size : to;
                runs.add(new long[]{i, from, to});
                from = toSend[i].nextClear(to);
            }
        }
        unconfirmed.add(new ReleaseBatch(ping, runs));
    }

    /**
     * release-ram in postcopy: the pages sent since the last batch become one, released once the destination
     * answers PING({@code ping}), which the caller writes right after. False (and no batch) when none were sent.
     */
    public boolean closeBatch(long ping) {
        if (sentSinceBatch.isEmpty()) {
            return false;
        }
        unconfirmed.add(new ReleaseBatch(ping, sentSinceBatch));
        sentSinceBatch = new ArrayList<>();
        return true;
    }

    /** Releases, oldest first, the batches whose PING the destination answered; returns the pages released. */
    public long releaseConfirmed(java.util.function.LongPredicate answered) {
        long released = 0;
        while (!unconfirmed.isEmpty() && answered.test(unconfirmed.peekFirst().ping())) {
            released += release(unconfirmed.removeFirst().runs());
        }
        return released;
    }

    /** The destination confirmed the whole stream (SHUT 0): every batch goes. */
    public long releaseAll() {
        long released = 0;
        while (!unconfirmed.isEmpty()) {
            released += release(unconfirmed.removeFirst().runs());
        }
        return released + release(sentSinceBatch) + release(sentOnPreempt);
    }

    private long release(List<long[]> runs) {
        long pages = 0;
        for (long[] run : runs) {
            RamBlock block = blocks.get((int) run[0]);
            block.release(run[1] * RamBlock.TARGET_PAGE_SIZE, (run[2] - run[1]) * RamBlock.TARGET_PAGE_SIZE);
            pages += run[2] - run[1];
        }
        runs.clear();
        return pages;
    }

    /** Notes a page sent in postcopy for release-ram, extending the last run when it continues it. */
    private void noteSent(int blockIndex, long page) {
        if (!sentSinceBatch.isEmpty()) {
            long[] last = sentSinceBatch.getLast();
            if (last[0] == blockIndex && last[2] == page) {
                last[2] = page + 1;
                return;
            }
        }
        sentSinceBatch.add(new long[]{blockIndex, page, page + 1});
    }

    /**
     * The switch to postcopy, with the machine paused (format reference §12.2, §12.3): a last sync, then the
     * discard commands of every block, in block order, for the pages still to send. From here on pages go whole
     * on the main stream (no XBZRLE, as in QEMU), requested pages ahead of the sweep, which starts over from the
     * first block; the next page names its block.
     */
    public List<PostcopyRamDiscard> startPostcopy() {
        if (requests == null) {
            throw new IllegalStateException("postcopy needs the page-request queue (postcopyRequests before setup)");
        }
        sync();
        inPostcopy = true;
        xbzrleActive = false;
        lastSent = null;
        cursorBlock = 0;
        cursorPage = 0;
        var commands = new ArrayList<PostcopyRamDiscard>();
        long left = 0;
        for (int i = 0; i < blocks.size(); i++) {
            commands.addAll(PostcopyDiscards.of(blocks.get(i), toSend[i])); // may round up to whole host pages
            left += toSend[i].count();
        }
        dirtyPages = left;
        return commands;
    }

    /**
     * Capability postcopy-preempt, after {@link #startPostcopy}: requested pages go on {@code channel} (RAM records
     * without section framing, each flushed at once) instead of queueing behind the sweep on the main stream.
     */
    public void preemptTo(StreamWriter channel) {
        this.preempt = channel;
        this.lastSentOnPreempt = null;
    }

    /** Whether {@link #startPostcopy} happened. */
    public boolean inPostcopy() {
        return inPostcopy;
    }

    /** START body: every page dirty, dirty logging (re)started, the MEM_SIZE block list, EOS. */
    public void setup(StreamWriter out) throws MigrationException {
        dirtyPages = 0;
        maybeData = new DirtyBitmap[blocks.size()];
        if (mappedRamWriters > 0 && (channels != null || options.compress() || options.xbzrle())) {
            throw new MigrationException("mapped-ram writes pages into the file itself: not with multifd's sockets, compress or xbzrle");
        }
        if (mappedRamWriters > 0 && ignoreShared) { // QEMU's loader reads no address before the mapped-ram header (§17.2)
            throw new MigrationException("mapped-ram with x-ignore-shared: a destination could not load the block list");
        }
        if (mappedRamWriters > 0 && mapped == null) {
            mapped = new MappedRamWriter(out, mappedRamWriters, mappedRamDirectIo);
        }
        for (int i = 0; i < blocks.size(); i++) {
            // order matters: after the clear every write is logged (markDirty) or caught (tracker), so a page
            // the scan calls empty but that is written later is sent again, read this time
            blocks.get(i).dirtyLog().clear();
            if (ignored(i)) {
                toSend[i].clear();
                continue;
            }
            tracker.start(blocks.get(i));
            maybeData[i] = PopulatedPages.of(blocks.get(i), features);
            toSend[i].setAll();
            dirtyPages += toSend[i].size();
        }
        counters.dirtySyncCount.incrementAndGet();
        periodStartNs = System.nanoTime();
        if (options.compress() && compressor == null) {
            compressor = new CompressThreads(options, counters);
        }
        if (options.xbzrle() && cache == null) {
            if (channels == null) {
                cache = new XbzrleCache(options.xbzrleCacheSize());
            } // with multifd the cache would never be used: its size is reported, its memory not taken
            counters.xbzrleCacheSize.set(options.xbzrleCacheSize());
        }
        long start = out.offset();
        long multifdStart = multifdBytes();
        long total = blocks.stream().mapToLong(RamBlock::usedLength).sum();
        out.be64(total | RamFlags.MEM_SIZE);
        for (int i = 0; i < blocks.size(); i++) {
            out.str8(blocks.get(i).name()).be64(blocks.get(i).usedLength());
            if (ignoreShared) {
                out.be64(RamBlock.REGION_ADDRESS);
            }
            if (mapped != null) {
                mapped.reserve(out, blocks.get(i));
            }
        }
        endSection(out, start, multifdStart, true);
    }

    /** Every RAM section ends alike: pending compressed pages out, the multifd sync (7.2), EOS, accounting. */
    private void endSection(StreamWriter out, long start, long multifdStart) throws MigrationException {
        endSection(out, start, multifdStart, false);
    }

    /** {@code syncPoint}: a per-round stream's setup and last section end with a sync point of their own. */
    private void endSection(StreamWriter out, long start, long multifdStart, boolean syncPoint) throws MigrationException {
        flushCompressed(out);
        if (channels != null && (syncPerSection || syncPoint)) {
            multifdSync(out);
        }
        out.be64(RamFlags.EOS);
        long viaChannels = multifdBytes() - multifdStart;
        counters.multifdBytes.addAndGet(viaChannels);
        if (channels != null) {
            counters.dirtySyncMissedZeroCopy.set(channels.zeroCopyMisses());
        }
        counters.transferred.addAndGet(out.offset() - start + viaChannels);
    }

    /** Queued pages out and a SYNC on every channel; in the per-round dialect, the MULTIFD_FLUSH that marks it. */
    private void multifdSync(StreamWriter out) throws MigrationException {
        channels.sync();
        if (!syncPerSection) {
            // out at once, as QEMU does: the destination's channels wait at their SYNC until it has read this, and
            // the pages queued next can fill their sockets while it sits in this buffer (a deadlock)
            out.be64(RamFlags.MULTIFD_FLUSH);
            out.flush();
        }
    }

    /**
     * Capability x-ignore-shared: blocks that are shared files ({@link RamBlock#isSharedFile}) are listed with their
     * region address but neither tracked nor sent — the destination maps the same file. Set before setup.
     */
    public void ignoreShared(boolean on) {
        this.ignoreShared = on;
    }

    private boolean keepAllInPlace; // cpr-transfer: the new process maps every block

    /** cpr-transfer (QEMU's migrate_ram_is_ignored): every block listed, none tracked or sent. Set before setup. */
    public void keepAllInPlace(boolean on) {
        this.keepAllInPlace = on;
    }

    private boolean ignored(int block) {
        return keepAllInPlace || blocks.get(block).keptInPlace(ignoreShared);
    }

    /** Bytes that go beside the main stream: multifd's, and mapped-ram's positional writes (QEMU counts both there). */
    private long multifdBytes() {
        return (channels == null ? 0 : channels.bytesQueued()) + (mapped == null ? 0 : mapped.bytesWritten());
    }

    /** Moves pages written since the last sync into the migration bitmaps; returns how many were added. */
    public long sync() {
        long added = 0;
        maybeData = null; // pages written since setup are about to be sent again: read them
        for (int i = 0; i < blocks.size(); i++) {
            if (ignored(i)) {
                blocks.get(i).dirtyLog().clear(); // writes the application reported: the file holds them already
                continue;
            }
            tracker.collect(blocks.get(i));
            added += blocks.get(i).dirtyLog().drainInto(toSend[i]);
        }
        dirtyPages += added;
        counters.dirtySyncCount.incrementAndGet();
        periodDirtyPages += added;
        long now = System.nanoTime();
        if (now - periodStartNs >= 1_000_000_000L) { // QEMU measures the rate over periods of at least 1 s
            counters.dirtyPagesRate.set(periodDirtyPages * 1_000_000_000L / (now - periodStartNs));
            counters.periodEnded(periodDirtyPages);
            periodStartNs = now;
            periodDirtyPages = 0;
        }
        return added;
    }

    /** Disarms dirty tracking and stops compression threads (whatever the outcome of the migration). */
    public void cleanup() {
        if (mapped != null) {
            mapped.close();
            mapped = null;
        }
        if (compressor != null) {
            compressor.close();
            compressor = null;
        }
        if (cache != null) {
            cache.close();
            cache = null;
        }
        for (RamBlock b : blocks) {
            try {
                tracker.stop(b);
            } catch (RuntimeException e) {
                // a block that was never armed (setup failed early) or is already unmapped: nothing to undo
            }
        }
    }

    /** Asks for a new XBZRLE cache size; the migration thread applies it before its next pass. */
    void resizeXbzrleCache(long bytes) {
        cacheResize = bytes;
    }

    private void applyCacheResize() {
        long size = cacheResize;
        if (size == 0 || cache == null) {
            return;
        }
        cacheResize = 0;
        if (size != cache.sizeBytes()) {
            cache.close();
            cache = new XbzrleCache(size); // empty, as QEMU's resized cache
            counters.xbzrleCacheSize.set(size);
        }
    }

    /** Bytes still to send (as of the last sync). */
    public long remainingBytes() {
        return dirtyPages * RamBlock.TARGET_PAGE_SIZE;
    }

    /** Completed passes over all RAM. */
    public long rounds() {
        return rounds;
    }

    /**
     * PART body: dirty pages until {@code budgetBytes} are written (0 = no byte limit) or 50 ms pass, then EOS.
     * Returns true when no dirty page is left. In postcopy, requested pages go first and between any two pages,
     * outside the budget (a waiting guest thread is not rate-limited); a negative budget sends only them.
     */
    public boolean iterate(StreamWriter out, long budgetBytes) throws MigrationException {
        applyCacheResize();
        long start = out.offset();
        long multifdStart = multifdBytes();
        long deadline = System.nanoTime() + ITERATE_TIME_LIMIT_NS;
        boolean done = false;
        int sent = 0;
        long requested = 0; // bytes of requested pages: outside the budget
        while (true) {
            if (inPostcopy && requests.waiting()) {
                long before = out.offset();
                serveRequests(out);
                requested += out.offset() - before;
            }
            if (budgetBytes < 0) {
                done = dirtyPages == 0;
                break;
            }
            if (!sendNextPage(out)) {
                done = true;
                break;
            }
            if (budgetBytes > 0 && out.offset() - start - requested + multifdBytes() - multifdStart >= budgetBytes) {
                break;
            }
            if ((++sent & 63) == 0 && System.nanoTime() > deadline) {
                break;
            }
        }
        endSection(out, start, multifdStart);
        return done;
    }

    /**
     * The destination's requests, oldest first: each still-unsent page of a request goes now, and the sweep
     * resumes right after the request (what a guest touches next tends to be near). A page already sent is not
     * sent twice. Flushed at once: a guest thread waits for it.
     */
    private void serveRequests(StreamWriter out) throws MigrationException {
        StreamWriter to = preempt != null ? preempt : out;
        long before = to.offset();
        PageRequests.Request r;
        while ((r = requests.poll()) != null) {
            DirtyBitmap bits = toSend[r.block()];
            for (long page = r.firstPage(); page < r.firstPage() + r.pages(); page++) {
                if (bits.testAndClear(page)) {
                    dirtyPages--;
                    DirtyBitmap known = maybeData == null ? null : maybeData[r.block()];
                    writePage(to, r.block(), page, known != null && !known.get(page));
                    if (releaseRam && to == preempt) {
                        // a PONG on the main stream says nothing of the preempt channel: kept until SHUT(0)
                        sentOnPreempt.add(new long[]{r.block(), page, page + 1});
                    } else if (releaseRam) {
                        noteSent(r.block(), page);
                    }
                }
            }
            cursorBlock = r.block();
            cursorPage = r.firstPage() + r.pages();
        }
        to.flush();
        if (to == preempt) {
            counters.transferred.addAndGet(to.offset() - before); // the main stream's section accounts for its own
        }
    }

    /**
     * Postcopy recovery: per block (by name) the destination's received bitmap (§11.4: page i is bit i % 8 of
     * byte i / 8); every page not in it is to be sent again, from the first block on, the next page of each
     * channel naming its block. The preempt channel, if any, is set again by {@link #preemptTo}.
     */
    public void resumeFrom(java.util.Map<String, byte[]> received) {
        long left = 0;
        for (int i = 0; i < blocks.size(); i++) {
            byte[] bits = received.get(blocks.get(i).name());
            DirtyBitmap send = toSend[i];
            send.clear();
            for (long page = 0; page < send.size(); page++) {
                boolean arrived = bits != null && page / 8 < bits.length && (bits[(int) (page / 8)] & (1 << (page % 8))) != 0;
                if (!arrived) {
                    send.set(page);
                    left++;
                }
            }
        }
        dirtyPages = left;
        cursorBlock = 0;
        cursorPage = 0;
        lastSent = null;
        preempt = null;
        lastSentOnPreempt = null;
    }

    /** postcopy-preempt in 7.2's form: the EOS word that ends the destination's reading of the channel. */
    public void endPreempt() throws MigrationException {
        if (preempt != null) {
            preempt.be64(RamFlags.EOS);
            preempt.flush();
            counters.transferred.addAndGet(8);
        }
    }

    /**
     * END body: a final sync (not in postcopy: the machine stopped at the switch), every remaining dirty page,
     * EOS. The machine must be paused.
     */
    public void complete(StreamWriter out) throws MigrationException {
        if (!inPostcopy) {
            sync();
        }
        lastStage = true;
        long start = out.offset();
        long multifdStart = multifdBytes();
        while (sendNextPage(out)) {
            // keep going: the machine is paused, nothing can dirty pages behind us
        }
        if (mapped != null) {
            mapped.writeBitmaps(); // once, after the last page (§17.1)
        }
        endSection(out, start, multifdStart, true);
    }

    private void flushCompressed(StreamWriter out) throws MigrationException {
        if (compressor != null) {
            compressor.flush(out);
        }
    }

    private boolean sendNextPage(StreamWriter out) throws MigrationException {
        if (dirtyPages == 0) {
            return false;
        }
        for (int visited = 0; visited <= blocks.size(); visited++) {
            long page = toSend[cursorBlock].nextSet(cursorPage);
            if (page >= 0) {
                toSend[cursorBlock].testAndClear(page);
                dirtyPages--;
                cursorPage = page + 1;
                DirtyBitmap known = maybeData == null ? null : maybeData[cursorBlock];
                writePage(out, cursorBlock, page, known != null && !known.get(page));
                if (releaseRam && inPostcopy) {
                    noteSent(cursorBlock, page);
                }
                return true;
            }
            cursorPage = 0;
            if (++cursorBlock == blocks.size()) {
                cursorBlock = 0;
                rounds++;
                flushCompressed(out); // a page of the last round must be out before it is sent again
                if (mapped != null) {
                    mapped.barrier(); // likewise in the file: no older write of a page may land after a newer one
                }
                if (channels != null && !syncPerSection) {
                    multifdSync(out); // nor may a page's older copy on one channel overtake its newer one on another
                }
                xbzrleActive = cache != null; // QEMU starts XBZRLE once the first round is over
            }
        }
        dirtyPages = 0; // the count drifted from the bitmaps; they are the truth
        return false;
    }

    private void writePage(StreamWriter out, int blockIndex, long pageIndex, boolean knownZero) throws MigrationException {
        RamBlock block = blocks.get(blockIndex);
        long offset = pageIndex * RamBlock.TARGET_PAGE_SIZE;
        MemorySegment page = block.page(offset);
        boolean zero = detectZeroPages && (knownZero || ZeroPageDetector.isZero(page));
        if (mapped != null) {
            mapped.page(blockIndex, pageIndex, zero);
            (zero ? counters.duplicate : counters.normal).incrementAndGet();
            return;
        }
        if (channels != null && !zero) {
            channels.queue(block, offset); // read from guest memory when its channel writes it
            counters.normal.incrementAndGet();
            return;
        }
        if (channels != null && zeroPagesInPackets) {
            channels.queueZero(block, offset);
            counters.duplicate.incrementAndGet();
            return;
        }
        if (xbzrleActive) {
            writeWithXbzrle(out, block, blockBase[blockIndex] + offset, offset, page, zero);
            return;
        }
        if (compressor != null) {
            if (block != lastSent) {
                // pending records carry CONTINUE for the block last named: they must leave before another is
                // named (QEMU then sends the new block's first page plainly, as here)
                flushCompressed(out);
            } else if (!zero && compressor.submit(out, offset, page)) {
                return;
            }
        }
        if (zero) {
            writeZero(out, block, offset);
        } else {
            header(out, block, offset | RamFlags.PAGE).page(page);
            counters.normal.incrementAndGet();
        }
    }

    /** The record's first word, with the block's name unless it is the block of the channel's previous record. */
    private StreamWriter header(StreamWriter out, RamBlock block, long word) throws MigrationException {
        if (out == preempt) {
            if (block == lastSentOnPreempt) {
                return out.be64(word | RamFlags.CONTINUE);
            }
            lastSentOnPreempt = block;
            return out.be64(word).str8(block.name());
        }
        if (block == lastSent) {
            return out.be64(word | RamFlags.CONTINUE);
        }
        lastSent = block;
        return out.be64(word).str8(block.name());
    }

    private void writeZero(StreamWriter out, RamBlock block, long offset) throws MigrationException {
        header(out, block, offset | RamFlags.ZERO).u8(0);
        counters.duplicate.incrementAndGet();
    }

    /**
     * QEMU 7.2's save_xbzrle_page: a page missing from the cache is cached and sent whole; a cached one goes
     * as a delta against the cached copy, or not at all when unchanged, or whole when the delta would not fit
     * a page. The destination applies deltas to its copy of the page, so what is sent whole is always the
     * cached copy (the guest may have written since): the two ends stay equal.
     */
    private void writeWithXbzrle(StreamWriter out, RamBlock block, long ramAddr, long offset, MemorySegment page,
                                 boolean zero) throws MigrationException {
        long age = counters.dirtySyncCount.get();
        if (zero) {
            writeZero(out, block, offset);
            cache.insert(ramAddr, ZERO_PAGE, age); // else a stale cached copy would be the base of the next delta
            return;
        }
        if (!cache.isCached(ramAddr, age)) {
            counters.xbzrleCacheMiss.incrementAndGet();
            if (!lastStage && cache.insert(ramAddr, page, age)) {
                writeWhole(out, block, offset, cache.data(ramAddr));
            } else {
                writeWhole(out, block, offset, page);
            }
            return;
        }
        counters.xbzrlePages.incrementAndGet();
        MemorySegment cached = cache.data(ramAddr);
        MemorySegment.copy(page, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, current, 0, current.length);
        MemorySegment.copy(cached, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, previous, 0, previous.length);
        int n = Xbzrle.encode(previous, current, delta, RamBlock.TARGET_PAGE_SIZE);
        MemorySegment sent = MemorySegment.ofArray(current);
        if (!lastStage && n != 0) {
            MemorySegment.copy(sent, 0, cached, 0, RamBlock.TARGET_PAGE_SIZE);
        }
        if (n == 0) {
            return; // unchanged since it was cached: nothing to send
        }
        if (n == Xbzrle.OVERFLOW) {
            counters.xbzrleOverflow.incrementAndGet();
            writeWhole(out, block, offset, sent);
            return;
        }
        long start = out.offset();
        header(out, block, offset | RamFlags.XBZRLE).u8(RamFlags.ENCODING_XBZRLE).be16(n).bytes(delta, 0, n);
        counters.xbzrleBytes.addAndGet(out.offset() - start - 8);
    }

    /** A whole page copied into the stream now: its source may change before the writer flushes. */
    private void writeWhole(StreamWriter out, RamBlock block, long offset, MemorySegment data) throws MigrationException {
        header(out, block, offset | RamFlags.PAGE).copy(data);
        counters.normal.incrementAndGet();
    }
}
