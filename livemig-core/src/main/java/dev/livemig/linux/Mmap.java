package dev.livemig.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Anonymous private mappings through mmap(2), reached with the FFM API.
 *
 * <p>Guest RAM is mapped rather than allocated so that untouched pages cost nothing (the kernel supplies
 * zero pages on first touch) and a 64 GiB machine starts instantly; {@code Arena.allocate} would zero
 * every byte up front. The mapping is released by munmap when its arena closes.
 */
public final class Mmap {
    private static final int PROT_READ = 0x1;
    private static final int PROT_WRITE = 0x2;
    private static final int MAP_PRIVATE = 0x02;
    private static final int MAP_ANONYMOUS = 0x20;
    private static final int MAP_NORESERVE = 0x4000;
    private static final long MAP_FAILED = -1L;

    private static final MethodHandle MMAP;
    private static final MethodHandle MUNMAP;
    private static final MethodHandle MADVISE;
    private static final int MADV_POPULATE_WRITE = 23; // Linux 5.14+
    private static final int MADV_DONTNEED = 4;
    private static final int MADV_HUGEPAGE = 14;
    /** The size of a transparent huge page on x86_64 (one PMD). */
    public static final long HUGE_PAGE_SIZE = 2L << 20;

    static {
        Linker linker = Linker.nativeLinker();
        var libc = linker.defaultLookup();
        MMAP = linker.downcallHandle(libc.find("mmap").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG,
                        ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG),
                Linker.Option.captureCallState("errno"));
        MUNMAP = linker.downcallHandle(libc.find("munmap").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
        MADVISE = linker.downcallHandle(libc.find("madvise").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
    }

    private Mmap() {
    }

    /** Maps {@code size} bytes of zero-filled anonymous memory whose lifetime is that of {@code arena}. */
    public static MemorySegment anonymous(Arena arena, long size) {
        return anonymous(arena, size, 4096);
    }

    /**
     * As {@link #anonymous(Arena, long)}, starting at a multiple of {@code alignment} (a power of two): a huge
     * page can only back a naturally aligned range, so a block meant for them is mapped {@link #HUGE_PAGE_SIZE}
     * aligned (more is mapped, and the unaligned head and tail are given back at once).
     */
    public static MemorySegment anonymous(Arena arena, long size, long alignment) {
        if (size <= 0) {
            throw new IllegalArgumentException("mapping size must be positive: " + size);
        }
        if (alignment < 4096 || Long.bitCount(alignment) != 1) {
            throw new IllegalArgumentException("alignment must be a power of two >= 4096: " + alignment);
        }
        long slack = alignment > 4096 ? alignment : 0;
        long mapped = mapAnonymous(size + slack);
        long base = (mapped + alignment - 1) & -alignment;
        if (base > mapped) {
            unmap(mapped, base - mapped);
        }
        if (mapped + size + slack > base + size) {
            unmap(base + size, mapped + size + slack - (base + size));
        }
        return MemorySegment.ofAddress(base).reinterpret(size, arena, seg -> unmap(base, size));
    }

    private static long mapAnonymous(long size) {
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment state = scratch.allocate(Linker.Option.captureStateLayout());
            MemorySegment addr = (MemorySegment) MMAP.invokeExact(state, MemorySegment.NULL, size,
                    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0L);
            if (addr.address() == MAP_FAILED) {
                int errno = state.get(ValueLayout.JAVA_INT,
                        Linker.Option.captureStateLayout().byteOffset(java.lang.foreign.MemoryLayout.PathElement.groupElement("errno")));
                throw new OutOfMemoryError("mmap of " + size + " bytes failed: errno=" + errno);
            }
            return addr.address();
        } catch (OutOfMemoryError | IllegalArgumentException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("mmap call failed", t);
        }
    }

    /**
     * Asks the kernel to back {@code range} with transparent huge pages (MADV_HUGEPAGE), as QEMU does for guest
     * RAM: one fault then maps 2 MiB, and page tables shrink 512-fold. Effective for anonymous memory when THP
     * is {@code always} or {@code madvise}, for shmem when {@code shmem_enabled} allows advice. Returns false
     * when the kernel refused the advice (no THP in this kernel).
     */
    public static boolean adviseHugePages(MemorySegment range) {
        return madvise(range, MADV_HUGEPAGE);
    }

    /**
     * Faults in (writable, zero-filled) the pages of {@code range} that are not yet populated, without changing
     * any content: MADV_POPULATE_WRITE. Returns false when the kernel does not support it.
     */
    public static boolean populateWrite(MemorySegment range) {
        return madvise(range, MADV_POPULATE_WRITE);
    }

    /**
     * Drops the pages of {@code range} (MADV_DONTNEED): private anonymous memory reads as zero again and its
     * memory goes back to the system. Returns false when the kernel refused.
     */
    public static boolean discard(MemorySegment range) {
        return madvise(range, MADV_DONTNEED);
    }

    private static boolean madvise(MemorySegment range, int advice) {
        try {
            return (int) MADVISE.invokeExact(range, range.byteSize(), advice) == 0;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("madvise call failed", t);
        }
    }

    private static void unmap(long base, long size) {
        try {
            int rc = (int) MUNMAP.invokeExact(MemorySegment.ofAddress(base), size);
            if (rc != 0) {
                throw new IllegalStateException("munmap failed for 0x" + Long.toHexString(base));
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("munmap call failed", t);
        }
    }
}
