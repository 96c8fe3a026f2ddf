package dev.livemig.ram;

import dev.livemig.machine.DirtyBitmap;
import dev.livemig.machine.RamBlock;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamWriter;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

/**
 * mapped-ram's side of the file (format reference §17): each block's header and reserved areas in the stream,
 * then pages written at their fixed offsets whenever they are sent (again after the guest dirtied them: the last
 * write wins), and at the end each block's bitmap of pages that hold data. Runs of consecutive non-zero pages go
 * out as one positional write, from the guest's memory; zero pages are never written, only cleared in the bitmap.
 *
 * <p>With {@code writers} > 1 the runs are written by that many threads (QEMU's multifd channels do the same with
 * mapped-ram: no packets, only positional writes). A page is sent at most once per pass, and {@link #barrier()}
 * (called between passes and before the bitmaps) waits for every write, so an older copy of a page never lands
 * after a newer one. Used by the migration thread only.
 */
public final class MappedRamWriter implements AutoCloseable {
    /** QEMU's refusal of mapped-ram on anything but a file. */
    public static final String NEEDS_A_FILE = "Migration requires seekable transport (e.g. file)";

    /** QEMU's alignment of a page area, so that it suits O_DIRECT. */
    static final long ALIGNMENT = 1 << 20;
    /** Longest run handed to one write: large enough to be cheap, small enough to spread over the writers. */
    private static final long MAX_RUN_PAGES = (4L << 20) / RamBlock.TARGET_PAGE_SIZE;

    /** Where a block's bitmap and pages are, and which of its pages the file holds. */
    private record Area(RamBlock block, long bitmapOffset, long pagesOffset, DirtyBitmap inFile) {
    }

    private final FileChannel file;
    private final FileChannel pageFile; // the page areas: file itself, or an O_DIRECT channel (direct-io)
    private final ExecutorService writers; // null: the migration thread writes
    private final List<Future<?>> pending = new ArrayList<>();
    private final List<Area> areas = new ArrayList<>();
    private final AtomicLong bytesWritten = new AtomicLong();
    private int runArea = -1;
    private long runFirst;
    private long runPages;

    /** {@code directIo}: the file's path, to write the page areas with O_DIRECT; null writes them buffered. */
    MappedRamWriter(StreamWriter out, int writers, java.nio.file.Path directIo) throws MigrationException {
        this.file = out.file();
        if (file == null) {
            throw new MigrationException(NEEDS_A_FILE);
        }
        this.pageFile = directIo == null ? file : DirectIo.open(directIo, true);
        this.writers = writers > 1 ? Executors.newFixedThreadPool(writers,
                Thread.ofPlatform().name("livemig-mapped-ram-", 0).daemon().factory()) : null;
    }

    /**
     * After a block's MEM_SIZE entry: its header, then the stream skips the bitmap, the padding and the page area
     * (holes in the file until written). Blocks are reserved in order; their index is their place in that order.
     */
    void reserve(StreamWriter out, RamBlock block) throws MigrationException {
        long pages = block.targetPages();
        long bitmapBytes = (pages + 63) / 64 * 8;
        long bitmapOffset = out.filePosition() + MappedRamBlock.HEADER_SIZE;
        long pagesOffset = (bitmapOffset + bitmapBytes + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
        out.be32(MappedRamBlock.VERSION).be64(RamBlock.TARGET_PAGE_SIZE).be64(bitmapOffset).be64(pagesOffset);
        out.zeros(pagesOffset + block.usedLength() - bitmapOffset);
        areas.add(new Area(block, bitmapOffset, pagesOffset, new DirtyBitmap(pages)));
    }

    /** Page {@code page} of block {@code blockIndex} as it is now: written (in a run) unless {@code zero}. */
    void page(int blockIndex, long page, boolean zero) throws MigrationException {
        Area a = areas.get(blockIndex);
        if (zero) {
            endRun();
            a.inFile.testAndClear(page); // what the file holds for it, if anything, is no longer its content
            return;
        }
        a.inFile.set(page);
        if (runArea == blockIndex && page == runFirst + runPages && runPages < MAX_RUN_PAGES) {
            runPages++;
            return;
        }
        endRun();
        runArea = blockIndex;
        runFirst = page;
        runPages = 1;
    }

    /** Bytes of pages written to the file (or handed to a writer) so far. */
    long bytesWritten() {
        return bytesWritten.get();
    }

    /** Hands the current run to a writer. */
    void endRun() throws MigrationException {
        if (runArea < 0) {
            return;
        }
        Area a = areas.get(runArea);
        MemorySegment pages = a.block.memory().asSlice(runFirst * RamBlock.TARGET_PAGE_SIZE, runPages * RamBlock.TARGET_PAGE_SIZE);
        long at = a.pagesOffset + runFirst * RamBlock.TARGET_PAGE_SIZE;
        runArea = -1;
        bytesWritten.addAndGet(pages.byteSize());
        if (writers == null) {
            writeAt(pageFile, pages.asByteBuffer(), at);
        } else {
            pending.add(writers.submit(() -> {
                writeAt(pageFile, pages.asByteBuffer(), at);
                return null;
            }));
        }
    }

    /** Waits until every page handed out is in the file; the first failed write fails the migration. */
    void barrier() throws MigrationException {
        endRun();
        MigrationException failure = null;
        for (Future<?> f : pending) {
            try {
                f.get();
            } catch (ExecutionException e) {
                if (failure == null) {
                    failure = e.getCause() instanceof MigrationException m ? m
                            : new MigrationException("mapped-ram write failed: " + e.getCause(), e.getCause());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new MigrationException("interrupted while mapped-ram pages were written", e);
            }
        }
        pending.clear();
        if (failure != null) {
            throw failure;
        }
    }

    /** Every block's bitmap at its offset, in host order (x86-64: little-endian), after the last page. */
    void writeBitmaps() throws MigrationException {
        barrier();
        for (Area a : areas) {
            long pages = a.inFile.size();
            ByteBuffer bits = ByteBuffer.allocate((int) ((pages + 63) / 64 * 8)).order(ByteOrder.LITTLE_ENDIAN);
            for (long word = 0; word < bits.capacity() / 8; word++) {
                long w = 0;
                for (int b = 0; b < 64 && word * 64 + b < pages; b++) {
                    if (a.inFile.get(word * 64 + b)) {
                        w |= 1L << b;
                    }
                }
                bits.putLong(w);
            }
            writeAt(file, bits.flip(), a.bitmapOffset);
        }
    }

    private static void writeAt(FileChannel channel, ByteBuffer data, long position) throws MigrationException {
        try {
            long at = position;
            while (data.hasRemaining()) {
                at += channel.write(data, at);
            }
        } catch (IOException e) {
            throw new MigrationException("mapped-ram: writing at file offset " + position + " failed: "
                    + MigrationException.reason(e), e);
        }
    }

    /** Stops the writer threads (after a failure, without waiting for what they still hold). */
    @Override
    public void close() {
        if (writers != null) {
            writers.shutdownNow();
        }
        if (pageFile != file) {
            try {
                pageFile.close();
            } catch (IOException e) {
                // every write was waited for (or the migration failed already): nothing is lost here
            }
        }
    }
}
