package dev.livemig.ram;

import dev.livemig.machine.HostFeatures;
import dev.livemig.machine.KernelFeature;
import dev.livemig.linux.Mmap;
import dev.livemig.machine.RamBlock;

import java.util.List;

/**
 * Faults a destination's fresh RAM in on a side thread (livemig-prefault), 2 MiB at a time with
 * MADV_POPULATE_WRITE, while the stream arrives: the first write to new memory is the destination's largest
 * cost, and this way the load thread's copies land in pages that already exist. Contents never change
 * (populating a page that holds data is a no-op), so it may race with the loader freely.
 */
final class RamPrefault implements AutoCloseable {
    private static final long CHUNK = 2L << 20;

    private final Thread thread;

    private RamPrefault(List<RamBlock> blocks) {
        this.thread = Thread.ofPlatform().name("livemig-prefault").daemon().start(() -> run(blocks));
    }

    /** Null when populate-write is switched off: then the load thread faults pages in itself. */
    static RamPrefault start(List<RamBlock> blocks, HostFeatures features) {
        return features.allows(KernelFeature.POPULATE_WRITE) ? new RamPrefault(blocks) : null;
    }

    private static void run(List<RamBlock> blocks) {
        for (RamBlock b : blocks) {
            if (!b.isAnonymous()) {
                continue;
            }
            for (long off = 0; off < b.usedLength() && !Thread.currentThread().isInterrupted(); off += CHUNK) {
                if (!Mmap.populateWrite(b.memory().asSlice(off, Math.min(CHUNK, b.usedLength() - off)))) {
                    return; // not supported here: the load thread faults pages in itself
                }
            }
        }
    }

    /** Stops early and waits: the thread holds the RAM's memory session while in madvise. */
    @Override
    public void close() {
        thread.interrupt();
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
