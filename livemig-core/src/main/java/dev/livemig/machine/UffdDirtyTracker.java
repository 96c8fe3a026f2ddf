package dev.livemig.machine;

import dev.livemig.linux.PagemapScan;
import dev.livemig.linux.Userfaultfd;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Transparent dirty tracking with userfaultfd asynchronous write protection (Linux 6.7+): {@link #start}
 * registers the block's memory with a WP_ASYNC userfaultfd and write-protects all of it; the application's
 * writes then proceed at full speed after one in-kernel fault per page, which records the page as written;
 * {@link #collect} asks PAGEMAP_SCAN for the written pages and write-protects them again in the same page
 * table walk, so the application needs no {@code markDirty} calls (they remain harmless).
 *
 * <p>Works for anonymous blocks ({@link RamBlock#anonymous}) and file mappings ({@link RamBlock#mappedFile}):
 * a write-protect-only registration on a WP_ASYNC userfaultfd is accepted for any memory type. Transparent huge
 * pages keep 4 KiB granularity: a huge page is protected as one PMD entry, and the first write into it has the
 * kernel split it and clear only the written 4 KiB page's bit (HugePageDirtyTrackingTest). Blocks whose host
 * pages are larger than 4 KiB (hugetlbfs) are refused. The block's memory must stay mapped while it is tracked:
 * {@link #stop} it before closing its arena. Discarding pages (madvise DONTNEED/REMOVE) changes their
 * contents without a write and is not reported: whoever discards must mark the pages dirty, as in QEMU.
 *
 * <p>Thread contract: start/collect/stop may come from any thread and are serialised per block; the
 * application writes concurrently from any threads. {@link #close()} must not race with them.
 */
public final class UffdDirtyTracker implements DirtyTracker {
    private static final int PAGE_BITS = RamBlock.TARGET_PAGE_BITS;

    private final Userfaultfd uffd;
    private final PagemapScan pagemap;
    private final Map<RamBlock, Armed> armed = new ConcurrentHashMap<>(); // RamBlock has identity equality

    /** Per-block state; its monitor serialises start/collect/stop of the block. */
    private static final class Armed {
        final MemorySegment memory;
        boolean active;

        Armed(MemorySegment memory) {
            this.memory = memory;
        }
    }

    private UffdDirtyTracker(Userfaultfd uffd, PagemapScan pagemap) {
        this.uffd = uffd;
        this.pagemap = pagemap;
    }

    /**
     * Opens the userfaultfd and {@code /proc/self/pagemap}. Succeeding says the kernel offers the features;
     * {@link DirtyTracker#automatic()} additionally probes that tracking works end to end.
     *
     * @throws UnsupportedOperationException off x86_64 Linux, or when the kernel lacks WP_ASYNC/WP_UNPOPULATED
     * @throws dev.livemig.linux.NativeCallException when a system call fails
     */
    public static UffdDirtyTracker open() {
        String os = System.getProperty("os.name");
        String arch = System.getProperty("os.arch");
        if (!"Linux".equals(os) || !("amd64".equals(arch) || "x86_64".equals(arch))) {
            // The bindings hard-code x86_64's system call number and 4 KiB pages.
            throw new UnsupportedOperationException("userfaultfd bindings are for x86_64 Linux, not " + os + "/" + arch);
        }
        Userfaultfd uffd = Userfaultfd.openWpAsync();
        try {
            return new UffdDirtyTracker(uffd, PagemapScan.open());
        } catch (RuntimeException e) {
            uffd.close();
            throw e;
        }
    }

    @Override
    public String name() {
        return "userfaultfd (WP_ASYNC + PAGEMAP_SCAN)";
    }

    @Override
    public void start(RamBlock block) {
        if (block.pageSize() != RamBlock.TARGET_PAGE_SIZE) {
            // A written huge page is reported whole and must be re-protected whole; not needed yet.
            throw new UnsupportedOperationException("userfaultfd tracking supports 4 KiB pages only: " + block);
        }
        Armed a = new Armed(block.memory());
        if (armed.putIfAbsent(block, a) != null) {
            throw new IllegalStateException(block + " is already tracked");
        }
        synchronized (a) {
            try {
                uffd.registerWriteProtect(a.memory);
            } catch (RuntimeException e) {
                armed.remove(block);
                throw e;
            }
            try {
                // With WP_UNPOPULATED this also installs markers on never-touched pages, so their first
                // write is recorded as well.
                uffd.writeProtect(a.memory, true);
            } catch (RuntimeException e) {
                try {
                    uffd.unregister(a.memory);
                } catch (RuntimeException undo) {
                    e.addSuppressed(undo);
                }
                armed.remove(block);
                throw e;
            }
            a.active = true;
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>If the scan fails part-way, the whole block is marked dirty before the exception propagates: the
     * kernel may already have re-protected pages it could not report, and resending everything is the only
     * answer that loses nothing.
     */
    @Override
    public void collect(RamBlock block) {
        Armed a = armed.get(block);
        if (a == null) {
            throw new IllegalStateException(block + " is not tracked");
        }
        synchronized (a) {
            if (!a.active) {
                throw new IllegalStateException(block + " is no longer tracked");
            }
            scanInto(block, a);
        }
    }

    private void scanInto(RamBlock block, Armed a) {
        if (!a.memory.scope().isAlive()) {
            throw new IllegalStateException("memory of " + block + " was released while tracked");
        }
        DirtyBitmap log = block.dirtyLog();
        try {
            pagemap.collectWritten(a.memory, (from, to, categories) -> {
                if (to - from == RamBlock.TARGET_PAGE_SIZE) {
                    log.set(from >>> PAGE_BITS);
                } else {
                    log.setRange(from >>> PAGE_BITS, to >>> PAGE_BITS);
                }
            });
        } catch (RuntimeException e) {
            log.setAll();
            throw e;
        }
    }

    @Override
    public void stop(RamBlock block) {
        Armed a = armed.remove(block);
        if (a == null) {
            return;
        }
        synchronized (a) {
            if (!a.active) {
                return;
            }
            a.active = false;
            if (!a.memory.scope().isAlive()) {
                return; // munmap already dropped the registration with the mapping
            }
            try {
                scanInto(block, a);
            } finally {
                // Unregistering also clears the remaining uffd-wp bits and markers, so later writes take
                // no fault at all.
                uffd.unregister(a.memory);
            }
        }
    }

    /** Blocks currently tracked (a snapshot). */
    public int trackedBlocks() {
        return armed.size();
    }

    /**
     * Checks on a 4-page scratch mapping that a plain store to a never-touched page is reported, alone, and
     * only once. Called by {@link DirtyTracker#automatic()}; throws {@link IllegalStateException} if not.
     */
    void probe() {
        try (Arena arena = Arena.ofConfined()) {
            RamBlock scratch = RamBlock.anonymous(arena, "uffd-probe", 4L * RamBlock.TARGET_PAGE_SIZE);
            scratch.memory().set(ValueLayout.JAVA_BYTE, 0, (byte) 1); // one populated page, three holes
            start(scratch);
            try {
                scratch.memory().set(ValueLayout.JAVA_LONG, 2L * RamBlock.TARGET_PAGE_SIZE + 8, 42L);
                collect(scratch);
                long first = scratch.dirtyLog().count();
                boolean page2 = scratch.dirtyLog().get(2);
                scratch.dirtyLog().clear();
                collect(scratch);
                long second = scratch.dirtyLog().count();
                if (first != 1 || !page2 || second != 0) {
                    throw new IllegalStateException("userfaultfd probe: expected page 2 once, saw " + first
                            + " page(s) (page 2: " + page2 + ") then " + second);
                }
            } finally {
                stop(scratch);
            }
        }
    }

    @Override
    public void close() {
        RuntimeException failure = null;
        for (RamBlock block : armed.keySet()) {
            try {
                stop(block);
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        pagemap.close();
        uffd.close(); // would unregister anything a failed stop left behind
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public String toString() {
        return name();
    }
}
