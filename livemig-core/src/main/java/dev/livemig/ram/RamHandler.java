package dev.livemig.ram;

import dev.livemig.machine.HostFeatures;
import dev.livemig.machine.DirtyTracker;
import dev.livemig.machine.DirtyTrackerChoice;
import dev.livemig.machine.LiveStateHandler;
import dev.livemig.machine.MachineCompat;
import dev.livemig.machine.RamBlock;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;

import java.util.List;

/**
 * The "ram" live handler (idstr {@code ram}, instance 0, version 4): {@link RamSaver} on the source,
 * {@link RamLoader} on the destination. Register one per machine, before any device.
 */
public final class RamHandler implements LiveStateHandler {
    private final List<RamBlock> blocks;
    private final HostFeatures features;
    private final DirtyTrackerChoice tracking;
    private final MachineCompat dialect;
    private volatile RamCounters counters = new RamCounters();
    private volatile RamSaver saver;
    private DirtyTracker tracker;
    private RamLoader loader;
    private volatile String trackerName = "none yet";
    private volatile RamOptions options = RamOptions.PLAIN;
    private volatile PageChannels channels;
    private DecompressThreads decompressor;
    private volatile RamLoader.SectionEnd sectionEnd = () -> { };
    private volatile boolean mappedRamIncoming;
    private volatile int mappedRamOutgoing; // writers; 0: a stream
    private volatile java.nio.file.Path directIo; // direct-io: the mapped-ram file, its page areas unbuffered
    private volatile PageRequests postcopyRequests; // postcopy-ram: the next outgoing migration's; null: precopy only
    private volatile boolean releaseRam;

    /** {@code features}: the kernel features this machine's migrations may use. */
    public RamHandler(List<RamBlock> blocks, HostFeatures features) {
        this(blocks, features, new DirtyTrackerChoice(features), MachineCompat.QEMU_7_2);
    }

    /**
     * {@code tracking} opens each outgoing migration's dirty tracker (a machine's own choice, probed once);
     * {@code dialect} says where outgoing streams put their multifd sync points.
     */
    public RamHandler(List<RamBlock> blocks, HostFeatures features, DirtyTrackerChoice tracking, MachineCompat dialect) {
        this.blocks = List.copyOf(blocks);
        this.features = features;
        this.tracking = tracking;
        this.dialect = dialect;
    }

    /** The counters of the current (or last) outgoing migration. */
    public RamCounters counters() {
        return counters;
    }

    /**
     * Counters for a new outgoing migration, starting from zero as QEMU's do at each {@code migrate}; the
     * previous migration keeps its own for its final statistics. Call before that migration's setup.
     */
    public RamCounters freshCounters() {
        counters = new RamCounters();
        return counters;
    }

    /**
     * A new xbzrle-cache-size for the running migration (QEMU's xbzrle_cache_resize): the saver replaces its
     * cache, empty, before its next pass; pages then miss once more.
     */
    public void resizeXbzrleCache(long bytes) {
        RamSaver s = saver;
        if (s != null) {
            s.resizeXbzrleCache(bytes);
        }
    }

    /** For the next outgoing stream: RAM laid out as mapped-ram, written by the migration thread. */
    public void mappedRamOutgoing(boolean on) {
        mappedRamOutgoing(on ? 1 : 0);
    }

    /** For the next outgoing stream: RAM laid out as mapped-ram by {@code writers} threads (0: a stream). */
    public void mappedRamOutgoing(int writers) {
        this.mappedRamOutgoing = writers;
    }

    /**
     * direct-io for the next outgoing or incoming mapped-ram file: its path, whose page areas are then written or
     * read with O_DIRECT; null (the default) goes through the page cache.
     */
    public void directIo(java.nio.file.Path file) {
        this.directIo = file;
    }

    /** For the next load: whether the stream is a mapped-ram file (its configuration says so). */
    public void mappedRamIncoming(boolean on) {
        this.mappedRamIncoming = on;
    }

    /** For the next load: what each RAM section's EOS waits for (the multifd channels' sync). */
    public void atSectionEnd(RamLoader.SectionEnd hook) {
        this.sectionEnd = hook;
    }

    /** How the next migration, in either direction, encodes pages; set before it starts. */
    public void options(RamOptions next) {
        this.options = next;
    }

    /** For the next outgoing migration: the multifd channels its non-zero pages go through (null: none). */
    public void pagesThrough(PageChannels next) {
        this.channels = next;
    }

    /**
     * For the next outgoing migration: capability postcopy-ram with the queue its return path fills (null: no
     * postcopy). RAM then counts as what postcopy can carry, as QEMU's does.
     */
    public void postcopy(PageRequests requests) {
        postcopy(requests, false);
    }

    /** As {@link #postcopy(PageRequests)}, with capability release-ram ({@code releaseRam}). */
    public void postcopy(PageRequests requests, boolean releaseRam) {
        this.postcopyRequests = requests;
        this.releaseRam = releaseRam;
    }

    /** The running outgoing migration's saver (postcopy's release-ram batches go through it). */
    public RamSaver outgoing() {
        return saver();
    }

    @Override
    public boolean hasPostcopy() {
        return postcopyRequests != null;
    }

    /**
     * The switch to postcopy of the running outgoing migration, machine paused: the discard commands to send
     * (RamSaver#startPostcopy).
     */
    public List<dev.livemig.wire.format.MigrationCommand.PostcopyRamDiscard> startPostcopy() {
        return saver().startPostcopy();
    }

    /** How guest writes are tracked in the current (or last) migration: "userfaultfd …" or "explicit (why)". */
    public String trackerName() {
        return trackerName;
    }

    @Override
    public void saveSetup(StreamWriter out) throws MigrationException {
        tracker = tracking.open();
        trackerName = tracker.name();
        saver = new RamSaver(blocks, counters, tracker, options, channels, features, dialect);
        saver.mappedRam(mappedRamOutgoing, directIo);
        saver.ignoreShared(ignoreShared);
        saver.keepAllInPlace(cprTransfer);
        saver.postcopyRequests(postcopyRequests);
        saver.releaseRam(releaseRam && postcopyRequests != null);
        saver.setup(out);
    }

    @Override
    public boolean saveIterate(StreamWriter out, long budgetBytes) throws MigrationException {
        return saver().iterate(out, budgetBytes);
    }

    @Override
    public void saveCompletePrecopy(StreamWriter out) throws MigrationException {
        saver().complete(out);
    }

    @Override
    public Pending pendingEstimate() {
        RamSaver s = saver;
        if (s == null) {
            return Pending.NONE;
        }
        return postcopyRequests != null ? new Pending(0, s.remainingBytes()) : new Pending(s.remainingBytes(), 0);
    }

    @Override
    public Pending pendingExact() {
        if (saver == null) {
            return Pending.NONE;
        }
        saver.sync();
        return pendingEstimate();
    }

    @Override
    public void saveCleanup() {
        if (saver != null) {
            saver.cleanup();
            saver = null;
        }
        if (tracker != null) {
            tracker.close();
            tracker = null;
        }
    }

    private volatile boolean postcopyIncoming;
    private volatile boolean ignoreShared;

    /**
     * Capability x-ignore-shared, for the next migration in either direction: blocks that are shared files are
     * listed with their addresses but their pages are not sent (nor tracked), and a destination refuses pages for
     * them. Both ends must agree (the configuration record says so).
     */
    public void ignoreShared(boolean on) {
        this.ignoreShared = on;
    }

    public boolean ignoreShared() {
        return ignoreShared;
    }

    private volatile boolean cprTransfer;

    /**
     * The next migration, outgoing or incoming, is cpr-transfer's (QEMU's migrate_ram_is_ignored): every RAM block is
     * memory the new process maps (handed over by its descriptor), so the stream lists the blocks and carries no page.
     */
    public void cprTransfer(boolean on) {
        this.cprTransfer = on;
    }

    public boolean cprTransfer() {
        return cprTransfer;
    }

    /** Incoming with x-ignore-shared: the blocks any page came for, on the main stream or a multifd channel. */
    private final java.util.Set<String> fedBlocks = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /** A page came for {@code block} (any thread); noted only with x-ignore-shared, for {@link #checkEveryBlockFed}. */
    public void pageCameFor(String block) {
        if (ignoreShared) {
            fedBlocks.add(block);
        }
    }

    /**
     * At the end of an incoming load with x-ignore-shared: every block this side does not ignore got its pages.
     * The stream does not say which blocks the source ignored; it sends every page of the others at least once
     * (precopy's first pass), so a block without any page is one the source kept in place as a shared file while
     * this side holds it privately — its content never came, and the load must not complete.
     */
    public void checkEveryBlockFed(StreamReader in) throws MigrationException {
        if (!ignoreShared || cprTransfer) {
            return;
        }
        for (RamBlock b : blocks) {
            if (!b.keptInPlace(ignoreShared) && !fedBlocks.contains(b.name())) {
                throw in.error("RAM block " + MigrationException.quote(b.name()) + " received no page: with x-ignore-shared"
                        + " the source keeps its shared files in place and sends none of them, and here the block is"
                        + " private memory (map the same file here, shared)");
            }
        }
    }

    /**
     * For the next incoming migration: capability postcopy-ram, so the loader notes which pages arrive, and the
     * prefault that runs while the destination waits is stopped at LISTEN ({@link #stopPrefault}), where every page
     * still missing is dropped again so that userfaultfd sees it. Set before listening.
     */
    public void postcopyIncoming(boolean on) {
        this.postcopyIncoming = on;
    }

    /** The running incoming load's loader (postcopy reads what arrived from it). */
    public synchronized RamLoader incoming() {
        if (loader == null) {
            throw new IllegalStateException("no incoming load runs");
        }
        return loader;
    }

    private RamPrefault prefault;
    private java.util.Map<RamBlock, dev.livemig.machine.DirtyBitmap> populatedBeforePrefault;

    /**
     * For an incoming migration that is listening but not yet connected: note which pages hold data, then
     * start faulting the RAM in, so that the wait for the source pays the destination's first-touch cost
     * instead of the migration (QEMU's -mem-prealloc, but only while waiting). Undone by {@link #loadCleanup}.
     */
    public synchronized void prepareIncoming() {
        if (cprTransfer) {
            return; // the memory is the old process's, populated where its guest wrote: nothing to fault in
        }
        if (prefault == null && populatedBeforePrefault == null) { // once (the prefault may be switched off)
            populatedBeforePrefault = RamLoader.populated(blocks, features);
            prefault = RamPrefault.start(blocks, features);
        }
    }

    /**
     * Postcopy destination, at LISTEN: no page is faulted in from here on (a missing page must fault until the page
     * server places it); returns once the prefault thread has stopped.
     */
    public synchronized void stopPrefault() {
        if (prefault != null) {
            prefault.close();
            prefault = null;
        }
    }

    @Override
    public synchronized void loadSetup() {
        decompressor = options.compress() ? new DecompressThreads(options.decompressThreads()) : null;
        // which pages are empty must be known from before the prefault fills them
        loader = populatedBeforePrefault != null ? new RamLoader(blocks, decompressor, populatedBeforePrefault)
                : new RamLoader(blocks, decompressor, features);
        populatedBeforePrefault = null;
        loader.atSectionEnd(sectionEnd);
        loader.mappedRam(mappedRamIncoming);
        loader.ignoreShared(ignoreShared);
        loader.keepAllInPlace(cprTransfer);
        fedBlocks.clear();
        loader.onBlockFed(this::pageCameFor);
        loader.directIo(mappedRamIncoming ? directIo : null);
        if (postcopyIncoming) {
            loader.trackReceived();
        } else if (prefault == null && !cprTransfer) {
            prefault = RamPrefault.start(blocks, features);
        }
    }

    @Override
    public void loadState(StreamReader in, int versionId) throws MigrationException {
        if (loader == null) {
            loadSetup();
        }
        loader.load(in, versionId);
    }

    @Override
    public synchronized void loadCleanup() {
        if (loader != null) {
            loader.closeDirectIo();
        }
        loader = null;
        populatedBeforePrefault = null;
        if (decompressor != null) {
            decompressor.close(); // before the machine may close its memory
            decompressor = null;
        }
        if (prefault != null) {
            prefault.close(); // before the machine may close its memory
            prefault = null;
        }
    }

    private RamSaver saver() {
        if (saver == null) {
            throw new IllegalStateException("ram: iterate before setup");
        }
        return saver;
    }
}
