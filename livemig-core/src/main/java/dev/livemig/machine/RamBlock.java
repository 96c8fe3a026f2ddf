package dev.livemig.machine;

import dev.livemig.linux.Mmap;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A named region of guest RAM held off-heap, the unit QEMU's "ram" section migrates.
 *
 * <p>{@code memory} is {@code usedLength} bytes, divided into target pages of {@link #TARGET_PAGE_SIZE}
 * bytes (QEMU's TPS on x86) for the wire, and host pages of {@link #pageSize()} bytes (4 KiB normally, larger
 * when backed by huge pages). The application reads and writes {@code memory} directly; a write made
 * while a migration runs must be reported with {@link #markDirty} (or be caught by a transparent tracker)
 * so that the page is sent again.
 */
public final class RamBlock {
    /** QEMU's TARGET_PAGE_SIZE on x86: the page the wire format and the dirty log count in. */
    public static final int TARGET_PAGE_SIZE = 4096;
    /** log2 of {@link #TARGET_PAGE_SIZE}. */
    public static final int TARGET_PAGE_BITS = 12;
    /**
     * The address of a block's memory region, which a block list carries with x-ignore-shared (and a destination
     * checks for the blocks it ignores): livemig's blocks are not mapped into an address space, and sit at 0 as the
     * region of a QEMU memory backend does (the guest sees that RAM through aliases).
     */
    public static final long REGION_ADDRESS = 0;

    private final String name;
    private final MemorySegment memory;
    private final int pageSize;
    private final DirtyBitmap dirtyLog;
    private final boolean anonymous;
    private final boolean hugePagesAdvised;
    private final boolean sharedFile;
    private final dev.livemig.linux.MemoryFile memoryFile; // memfd or handed-over memory, null otherwise

    /**
     * A block over memory the caller provides (and keeps alive as long as the block is used), with host pages of
     * {@code pageSize} bytes.
     *
     * @throws IllegalArgumentException if the name has not 1 to 255 characters, the memory is empty or not a
     *         multiple of {@link #TARGET_PAGE_SIZE}, or {@code pageSize} is not a power of two of at least 4096
     *         that divides it
     */
    public RamBlock(String name, MemorySegment memory, int pageSize) {
        this(name, memory, pageSize, false, false, false, null);
    }

    private RamBlock(String name, MemorySegment memory, int pageSize, boolean anonymous, boolean hugePagesAdvised,
                     boolean sharedFile, dev.livemig.linux.MemoryFile memoryFile) {
        if (name.isEmpty() || name.length() > 255) {
            throw new IllegalArgumentException("RAM block name must have 1..255 characters: \"" + name + "\"");
        }
        if (memory.byteSize() % TARGET_PAGE_SIZE != 0 || memory.byteSize() == 0) {
            throw new IllegalArgumentException("RAM block " + name + " length must be a positive multiple of "
                    + TARGET_PAGE_SIZE + ": " + memory.byteSize());
        }
        if (pageSize < TARGET_PAGE_SIZE || Integer.bitCount(pageSize) != 1 || memory.byteSize() % pageSize != 0) {
            throw new IllegalArgumentException("RAM block " + name + " page size must be a power of two >= 4096 dividing the length: " + pageSize);
        }
        this.name = name;
        this.memory = memory;
        this.pageSize = pageSize;
        this.dirtyLog = new DirtyBitmap(memory.byteSize() / TARGET_PAGE_SIZE);
        this.anonymous = anonymous;
        this.hugePagesAdvised = hugePagesAdvised;
        this.sharedFile = sharedFile;
        this.memoryFile = memoryFile;
    }

    /** Zero-filled anonymous memory in 4 KiB pages, mapped lazily (untouched pages cost nothing). */
    public static RamBlock anonymous(Arena arena, String name, long size) {
        return anonymous(arena, name, size, false);
    }

    /**
     * Zero-filled anonymous memory, mapped lazily; with {@code hugePages} it is aligned to and advised for
     * transparent huge pages (whether the kernel gives them is its choice: THP mode, free memory). The target
     * and host page size stay 4 KiB either way: a huge page is split wherever 4 KiB granularity is needed.
     */
    public static RamBlock anonymous(Arena arena, String name, long size, boolean hugePages) {
        if (!hugePages || size < Mmap.HUGE_PAGE_SIZE) {
            return new RamBlock(name, Mmap.anonymous(arena, size), TARGET_PAGE_SIZE, true, false, false, null);
        }
        MemorySegment memory = Mmap.anonymous(arena, size, Mmap.HUGE_PAGE_SIZE);
        return new RamBlock(name, memory, TARGET_PAGE_SIZE, true, Mmap.adviseHugePages(memory), false, null);
    }

    /** Memory mapped from a file (created or extended to {@code size}); survives the process when shared. */
    public static RamBlock mappedFile(Arena arena, String name, Path file, long size) throws IOException {
        return mappedFile(arena, name, file, size, false);
    }

    /**
     * As {@link #mappedFile(Arena, String, Path, long)}; with {@code hugePages} the mapping is advised for
     * transparent huge pages, which a tmpfs file (/dev/shm) gets where the host's {@code shmem_enabled} allows.
     */
    public static RamBlock mappedFile(Arena arena, String name, Path file, long size, boolean hugePages) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            if (ch.size() < size) {
                ch.write(java.nio.ByteBuffer.allocate(1), size - 1);
            }
            MemorySegment memory = ch.map(FileChannel.MapMode.READ_WRITE, 0, size, arena);
            return new RamBlock(name, memory, TARGET_PAGE_SIZE, false, hugePages && Mmap.adviseHugePages(memory), true, null);
        }
    }

    /**
     * Zero-filled memory in a memfd, mapped shared: memory with a descriptor, which cpr-transfer hands to a new
     * process that maps the same pages (QEMU's memory-backend-memfd with share=on). The descriptor is closed with
     * {@code arena}.
     */
    public static RamBlock memfd(Arena arena, String name, long size) throws IOException {
        dev.livemig.linux.MemoryFile file = dev.livemig.linux.MemoryFile.memfd(name, size);
        try {
            return withMemoryFile(arena, name, file, size);
        } catch (IOException | RuntimeException e) {
            file.close();
            throw e;
        }
    }

    /**
     * Guest memory another process handed over (cpr-transfer: a memfd or shm file that came by SCM_RIGHTS), mapped
     * shared: the same pages, not a copy. The block owns {@code memory} from here on (it can hand it on again) and
     * closes it with {@code arena}.
     */
    public static RamBlock handedOver(Arena arena, String name, dev.livemig.linux.MemoryFile memory, long size) throws IOException {
        if (memory.size() < size) {
            throw new IOException("the memory handed over for RAM block " + name + " holds " + memory.size()
                    + " bytes, not " + size);
        }
        return withMemoryFile(arena, name, memory, size);
    }

    private static RamBlock withMemoryFile(Arena arena, String name, dev.livemig.linux.MemoryFile file, long size) throws IOException {
        MemorySegment memory = file.map(arena, size);
        MemorySegment.NULL.reinterpret(0, arena, unused -> file.close()); // the descriptor lives as long as the mapping
        return new RamBlock(name, memory, TARGET_PAGE_SIZE, false, false, false, file);
    }

    /**
     * The memory's descriptor, which cpr-transfer hands to the new process ({@link #memfd}, {@link #handedOver});
     * empty for anonymous memory and mapped files.
     */
    public java.util.Optional<dev.livemig.linux.MemoryFile> memoryFile() {
        return java.util.Optional.ofNullable(memoryFile);
    }

    /**
     * Bytes of the block mapped by huge pages right now, asked of the kernel (PAGEMAP_SCAN); -1 when that cannot
     * be told. A figure for reports: huge pages come and go (split by write protection, collapsed by khugepaged).
     */
    public long hugePageBytes() {
        long[] bytes = new long[1];
        try (dev.livemig.linux.PagemapScan scan = dev.livemig.linux.PagemapScan.open()) {
            scan.scan(memory, 0, dev.livemig.linux.PagemapScan.PAGE_IS_HUGE, dev.livemig.linux.PagemapScan.PAGE_IS_HUGE,
                    dev.livemig.linux.PagemapScan.DEFAULT_VECTOR_LENGTH, (from, to, categories) -> bytes[0] += to - from);
            return bytes[0];
        } catch (RuntimeException | LinkageError e) {
            return -1;
        }
    }

    /** True when the block's memory was advised for transparent huge pages and the kernel took the advice. */
    public boolean hugePagesAdvised() {
        return hugePagesAdvised;
    }

    /**
     * True for a shared mapping of a named file ({@link #mappedFile}; QEMU's memory-backend-file with share=on):
     * its content outlives the process, so with capability x-ignore-shared the block is listed in the stream but
     * its pages are not sent — the destination maps the same file.
     */
    public boolean isSharedFile() {
        return sharedFile;
    }

    /** Whether capability x-ignore-shared ({@code ignoreShared}) keeps this block in place: a shared file's. */
    public boolean keptInPlace(boolean ignoreShared) {
        return ignoreShared && sharedFile;
    }

    /** True for private anonymous memory, where a page never populated is known to read as zero. */
    public boolean isAnonymous() {
        return anonymous;
    }

    /** QEMU's idstr of the block, e.g. {@code pc.ram}. */
    public String name() {
        return name;
    }

    /**
     * The block's memory, for the application to read and write; a write during a migration must be reported with
     * {@link #markDirty} unless a transparent tracker catches it.
     */
    public MemorySegment memory() {
        return memory;
    }

    /** Bytes in use (QEMU's used_length). */
    public long usedLength() {
        return memory.byteSize();
    }

    /** Host page size of the block. */
    public int pageSize() {
        return pageSize;
    }

    /** The number of target pages: {@link #usedLength()} / {@link #TARGET_PAGE_SIZE}. */
    public long targetPages() {
        return memory.byteSize() / TARGET_PAGE_SIZE;
    }

    /** The target page at {@code offset} (a multiple of the target page size inside the block). */
    public MemorySegment page(long offset) {
        return memory.asSlice(offset, TARGET_PAGE_SIZE);
    }

    /**
     * Forgets the block's contents: every byte reads as zero afterwards (a destination throwing away a failed
     * migration's RAM). Anonymous memory is handed back to the system; a file-backed block is zero-filled.
     * The caller must make sure nothing uses the block meanwhile.
     */
    public void discard() {
        if (!anonymous || !Mmap.discard(memory)) {
            memory.fill((byte) 0);
        }
    }

    /**
     * Hands [offset, offset + length) of an anonymous block back to the system (it reads as zero afterwards):
     * postcopy's release-ram, once the destination holds those pages. Memory the caller provided is left as it
     * is, and false returned. Offset and length must be whole target pages inside the block.
     */
    public boolean release(long offset, long length) {
        return anonymous && Mmap.discard(memory.asSlice(offset, length));
    }

    /** Records that bytes [offset, offset+length) changed. Safe from any thread. */
    public void markDirty(long offset, long length) {
        if (length <= 0) {
            return;
        }
        long first = offset >>> TARGET_PAGE_BITS;
        long last = (offset + length - 1) >>> TARGET_PAGE_BITS;
        if (last == first) {
            dirtyLog.set(first);
        } else {
            dirtyLog.setRange(first, last + 1);
        }
    }

    /** Pages written since the last sync (QEMU's accelerator dirty log). */
    public DirtyBitmap dirtyLog() {
        return dirtyLog;
    }

    @Override
    public String toString() {
        return "RamBlock[" + name + ", 0x" + Long.toHexString(usedLength()) + " bytes]";
    }
}
