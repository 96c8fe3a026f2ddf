package dev.livemig.ram;

import dev.livemig.machine.RamBlock;
import dev.livemig.wire.MigrationException;

/**
 * Where a multifd migration sends its non-zero pages instead of the main stream (§9). The saver hands over
 * pages one at a time in the order it finds them and calls {@link #sync} before every RAM section's EOS (QEMU
 * 7.2's per-section sync), so the destination never takes a page of one section after the next section.
 * Used by the migration thread only.
 */
public interface PageChannels {
    /** Queues one page of {@code block} at {@code offset}; it is read from guest memory later, on a channel. */
    void queue(RamBlock block, long offset) throws MigrationException;

    /** Sends what is queued and a SYNC packet on every channel; returns once every channel has written it. */
    void sync() throws MigrationException;

    /** Bytes accounted to the migration so far (QEMU counts packets when queued, pages at their full size). */
    long bytesQueued();

    /** zero-copy-send: sync points at which the kernel had copied every page after all. */
    long zeroCopyMisses();
}
