package dev.livemig.ram;

import dev.livemig.machine.RamBlock;
import dev.livemig.wire.MigrationException;

/**
 * Where a multifd migration sends its pages instead of the main stream (§9): the non-zero ones always, and the
 * zero ones too in current QEMU's dialect (zero-page-detection=multifd: listed in a packet, without data). The
 * saver hands pages over one at a time in the order it finds them and calls {@link #sync} at every sync point
 * (each RAM section's EOS in 7.2's dialect, each MULTIFD_FLUSH in current QEMU's), so the destination never takes
 * a page sent before a sync point after it. Used by the migration thread only.
 */
public interface PageChannels {
    /** Queues one page of {@code block} at {@code offset}; it is read from guest memory later, on a channel. */
    void queue(RamBlock block, long offset) throws MigrationException;

    /** Queues one all-zero page: it travels as an offset among a packet's zero pages, with no data. */
    void queueZero(RamBlock block, long offset) throws MigrationException;

    /** Sends what is queued and a SYNC packet on every channel; returns once every channel has written it. */
    void sync() throws MigrationException;

    /** Bytes accounted to the migration so far (QEMU counts packets when queued, pages at their full size). */
    long bytesQueued();

    /** zero-copy-send: sync points at which the kernel had copied every page after all. */
    long zeroCopyMisses();
}
