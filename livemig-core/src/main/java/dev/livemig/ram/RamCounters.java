package dev.livemig.ram;

import java.util.concurrent.atomic.AtomicLong;

/**
 * RAM transfer counters with QEMU's query-migrate meanings (§7.12). Written by the migration thread, read by
 * anyone (statistics).
 */
public final class RamCounters {
    /** Zero pages sent (QEMU's "duplicate"). */
    public final AtomicLong duplicate = new AtomicLong();
    /** Pages sent in full (QEMU's "normal"). */
    public final AtomicLong normal = new AtomicLong();
    /** Bytes of RAM records written, headers included (QEMU's "transferred" for RAM). */
    public final AtomicLong transferred = new AtomicLong();
    /** Pages dirtied per second over the last period of at least one second (QEMU's "dirty-pages-rate"). */
    public final AtomicLong dirtyPagesRate = new AtomicLong();
    /** Dirty-bitmap synchronisations (QEMU's "dirty-sync-count"). */
    public final AtomicLong dirtySyncCount = new AtomicLong();

    /** Legacy compression (QEMU's "compression" stats): pages sent compressed, their payload bytes, and how
     * often no compression thread was free (the page went out uncompressed). */
    public final AtomicLong compressedPages = new AtomicLong();
    public final AtomicLong compressedBytes = new AtomicLong();
    public final AtomicLong compressBusy = new AtomicLong();

    /** XBZRLE (QEMU's "xbzrle-cache" stats): delta bytes (record bodies after the 8-byte word), cache hits
     * (pages), misses and deltas that would have been larger than a page. */
    public final AtomicLong xbzrleBytes = new AtomicLong();
    public final AtomicLong xbzrlePages = new AtomicLong();
    public final AtomicLong xbzrleCacheMiss = new AtomicLong();
    public final AtomicLong xbzrleOverflow = new AtomicLong();
    /** The size of the XBZRLE cache in use (it may be resized while the migration runs). */
    public final AtomicLong xbzrleCacheSize = new AtomicLong();

    /** Bytes handed to multifd channels, packet headers included, counted when queued as QEMU 7.2 does
     * (uncompressed page size; also part of {@link #transferred}). */
    public final AtomicLong multifdBytes = new AtomicLong();
    /** zero-copy-send: sync points at which the kernel had copied pages after all (QEMU's
     * "dirty-sync-missed-zero-copy"). */
    public final AtomicLong dirtySyncMissedZeroCopy = new AtomicLong();

    /** Dirty-rate periods ended so far, and the pages dirtied in the last one (auto-converge reads both). */
    public final AtomicLong periods = new AtomicLong();
    public final AtomicLong lastPeriodDirtyPages = new AtomicLong();

    void periodEnded(long dirtyPages) {
        lastPeriodDirtyPages.set(dirtyPages);
        periods.incrementAndGet(); // after: a reader that sees the new count sees the figure
    }

    public long normalBytes() {
        return normal.get() * dev.livemig.machine.RamBlock.TARGET_PAGE_SIZE;
    }
}
