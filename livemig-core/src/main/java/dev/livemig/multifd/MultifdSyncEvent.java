package dev.livemig.multifd;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Label;
import jdk.jfr.Name;

/**
 * JFR: one multifd sync on the source (every channel drained, then a SYNC packet on each), with the zero-copy
 * sends the kernel had to copy after all so far (zero-copy-send's misses, QEMU's dirty-sync-missed-zero-copy).
 */
@Name("dev.livemig.MultifdSync")
@Label("Multifd sync")
@Category({"livemig", "Migration"})
final class MultifdSyncEvent extends jdk.jfr.Event {
    @Label("Channels")
    int channels;

    @Label("Packets")
    @Description("Packets numbered so far on all channels, the SYNC ones included")
    long packets;

    @Label("Zero-copy misses")
    @Description("Syncs at which the kernel reported copying zero-copy sends, since the migration started")
    long zeroCopyMisses;
}
