package dev.livemig.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A userfaultfd(2) descriptor, reached with the FFM API, in one of two uses: asynchronous write-protect
 * tracking ({@link #openWpAsync}, the dirty tracker's) or missing-page faults resolved by a handler
 * ({@link #openMissing}, postcopy's).
 *
 * <p>With {@link #FEATURE_WP_ASYNC} the kernel resolves write-protect faults itself: a write to a
 * protected page clears the page's uffd-wp bit and proceeds, nothing is queued on the descriptor and no
 * thread ever blocks. The cleared bit is what {@link PagemapScan} reports as {@code PAGE_IS_WRITTEN}.
 * {@link #FEATURE_WP_UNPOPULATED} makes protection cover never-touched (pte_none) pages too, by installing
 * PTE markers; without it PAGEMAP_SCAN refuses anonymous ranges under {@code PM_SCAN_CHECK_WPASYNC}.
 *
 * <p>In missing mode a thread touching a registered page that is not populated sleeps in the kernel until
 * a handler places the page ({@link #copy}, {@link #zeroPage}) or wakes it. The handler reads the faults
 * with {@link #readFault}; it may live in another process that received the descriptor
 * ({@link UnixSocket#sendDescriptors}), which is how a JVM serves its own faults without deadlocking at a
 * safepoint (docs/architecture.md, "Postcopy").
 *
 * <p>Its methods may be called from any thread, but {@link #close()} must not race with them. Closing the descriptor unregisters every range it registered, clearing the protection.
 * Struct layouts and ioctl numbers are those of include/uapi/linux/userfaultfd.h.
 */
public final class Userfaultfd implements AutoCloseable {
    /** x86_64 system call number. */
    private static final long NR_USERFAULTFD = 323;
    /** userfaultfd(2) flag: handle user-mode faults only, which lets unprivileged callers in too. */
    private static final int UFFD_USER_MODE_ONLY = 1;
    private static final long UFFD_API = 0xAA;

    /** Fault messages carry the faulting thread's id. */
    public static final long FEATURE_THREAD_ID = 1L << 8;
    public static final long FEATURE_WP_HUGETLBFS_SHMEM = 1L << 12;
    public static final long FEATURE_WP_UNPOPULATED = 1L << 13;
    /** UFFDIO_POISON: a page that can never arrive is marked so that touching it raises SIGBUS (6.6+). */
    public static final long FEATURE_POISON = 1L << 14;
    public static final long FEATURE_WP_ASYNC = 1L << 15;

    private static final long REGISTER_MODE_MISSING = 1L << 0;
    private static final int NR_WAKE = 0x02;
    private static final int NR_COPY = 0x03;
    private static final int NR_ZEROPAGE = 0x04;
    private static final int EVENT_PAGEFAULT = 0x12;
    private static final long PAGEFAULT_FLAG_WRITE = 1L << 0;
    /** sizeof(struct uffd_msg). */
    private static final int MESSAGE_BYTES = 32;
    private static final int EAGAIN = 11;
    private static final int EEXIST = 17;

    private static final long REGISTER_MODE_WP = 1L << 1;
    private static final long WRITEPROTECT_MODE_WP = 1L << 0;
    private static final int NR_WRITEPROTECT = 0x06;

    private static final int UFFDIO = 0xAA;
    // struct uffdio_api {u64 api, features, ioctls} = 24 bytes
    private static final long UFFDIO_API = Libc.ioc(3, UFFDIO, 0x3F, 24);
    // struct uffdio_register {struct uffdio_range {u64 start, len}; u64 mode, ioctls} = 32 bytes
    private static final long UFFDIO_REGISTER = Libc.ioc(3, UFFDIO, 0x00, 32);
    // struct uffdio_range = 16 bytes; _IOR although the kernel only reads it (a historical quirk)
    private static final long UFFDIO_UNREGISTER = Libc.ioc(2, UFFDIO, 0x01, 16);
    // struct uffdio_writeprotect {struct uffdio_range; u64 mode} = 24 bytes
    private static final long UFFDIO_WRITEPROTECT = Libc.ioc(3, UFFDIO, 0x06, 24);
    // struct uffdio_range = 16 bytes; _IOR like UNREGISTER
    private static final long UFFDIO_WAKE = Libc.ioc(2, UFFDIO, NR_WAKE, 16);
    // struct uffdio_copy {u64 dst, src, len, mode; s64 copy} = 40 bytes
    private static final long UFFDIO_COPY = Libc.ioc(3, UFFDIO, NR_COPY, 40);
    // struct uffdio_zeropage {struct uffdio_range; u64 mode; s64 zeropage} = 32 bytes
    private static final long UFFDIO_ZEROPAGE = Libc.ioc(3, UFFDIO, NR_ZEROPAGE, 32);
    // struct uffdio_poison {struct uffdio_range; u64 mode; s64 updated} = 32 bytes
    private static final long UFFDIO_POISON = Libc.ioc(3, UFFDIO, 0x08, 32);
    /** /dev/userfaultfd: {@code _IO(0xAA, 0)}, argument = the flags userfaultfd(2) would take. */
    private static final long USERFAULTFD_IOC_NEW = Libc.ioc(0, UFFDIO, 0x00, 0);

    private final FileDescriptorHolder fd;
    private final long features;
    /** Each calling thread's argument struct for the per-page ioctls and the fault message, allocated once. */
    private final ThreadLocal<MemorySegment> scratch = ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(64, 8));

    private final boolean kernelFaultsWait;

    private Userfaultfd(int fd, long features) {
        this(fd, features, false);
    }

    private Userfaultfd(int fd, long features, boolean kernelFaultsWait) {
        this.fd = new FileDescriptorHolder(this, "userfaultfd", fd);
        this.features = features;
        this.kernelFaultsWait = kernelFaultsWait;
    }

    /**
     * Whether a fault the kernel takes for the process (a system call touching a missing page) waits like a
     * user-mode one; false for a user-mode-only descriptor, where such a call fails with EFAULT. Always false
     * for an adopted descriptor, which cannot tell.
     */
    public boolean kernelFaultsWait() {
        return kernelFaultsWait;
    }

    /**
     * The features this kernel offers (UFFDIO_API handshake with none requested on a throwaway descriptor;
     * the handshake can succeed only once per descriptor, so the real one is opened afterwards).
     */
    public static long supportedFeatures() {
        int fd = create();
        try {
            return handshake(fd, 0);
        } finally {
            Libc.close("userfaultfd", fd);
        }
    }

    /**
     * Opens a descriptor for asynchronous write-protect tracking of anonymous (and, when the kernel can,
     * shmem/hugetlbfs) memory.
     *
     * @throws UnsupportedOperationException when the kernel lacks WP_ASYNC or WP_UNPOPULATED (before 6.7)
     * @throws NativeCallException when userfaultfd(2) or UFFDIO_API fails (ENOSYS: no userfaultfd at all)
     */
    public static Userfaultfd openWpAsync() {
        long supported = supportedFeatures();
        long required = FEATURE_WP_ASYNC | FEATURE_WP_UNPOPULATED;
        if ((supported & required) != required) {
            throw new UnsupportedOperationException("userfaultfd lacks "
                    + ((supported & FEATURE_WP_ASYNC) == 0 ? "WP_ASYNC " : "")
                    + ((supported & FEATURE_WP_UNPOPULATED) == 0 ? "WP_UNPOPULATED " : "")
                    + "(features 0x" + Long.toHexString(supported) + ")");
        }
        long wanted = required | (supported & FEATURE_WP_HUGETLBFS_SHMEM);
        int fd = create();
        try {
            return new Userfaultfd(fd, handshake(fd, wanted));
        } catch (RuntimeException | Error e) {
            Libc.close("userfaultfd", fd);
            throw e;
        }
    }

    /**
     * Opens a descriptor for missing-page faults on anonymous memory, with the thread-id and poison features
     * when the kernel has them ({@link #features()} tells). Faults the kernel takes on the process's behalf (a
     * system call reading a missing page) wait too when the caller may ask for that (root, or
     * vm.unprivileged_userfaultfd=1); otherwise only user-mode accesses wait and such a system call fails with
     * EFAULT ({@link #kernelFaultsWait()} tells).
     *
     * @throws NativeCallException when userfaultfd(2) or UFFDIO_API fails (ENOSYS: no userfaultfd at all)
     */
    public static Userfaultfd openMissing() {
        long wanted = supportedFeatures() & (FEATURE_THREAD_ID | FEATURE_POISON);
        int fd;
        boolean kernelFaults = true;
        try {
            fd = (int) Libc.syscall("userfaultfd(2)", NR_USERFAULTFD, Libc.O_CLOEXEC | Libc.O_NONBLOCK);
        } catch (NativeCallException e) {
            if (e.errno() != 1) {
                throw e;
            }
            kernelFaults = false; // EPERM: unprivileged descriptors are user-mode-only
            fd = create();
        }
        try {
            return new Userfaultfd(fd, handshake(fd, wanted), kernelFaults);
        } catch (RuntimeException | Error e) {
            Libc.close("userfaultfd", fd);
            throw e;
        }
    }

    /**
     * Takes ownership of a descriptor another process opened and handed over ({@link UnixSocket#receiveDescriptors});
     * {@code features} are those its handshake granted, which the descriptor itself cannot tell.
     */
    public static Userfaultfd adopt(ReceivedDescriptor fd, long features) {
        return new Userfaultfd(fd.take(), features);
    }

    /** The raw descriptor, to hand over to another process. */
    int descriptor() {
        return fd.fd();
    }

    private static int create() {
        int flags = Libc.O_CLOEXEC | Libc.O_NONBLOCK | UFFD_USER_MODE_ONLY;
        try {
            return (int) Libc.syscall("userfaultfd(2)", NR_USERFAULTFD, flags);
        } catch (NativeCallException e) {
            if (e.errno() != 1) { // only EPERM (seccomp, sysctl) has the device node as an alternative
                throw e;
            }
            int dev;
            try {
                dev = Libc.open("/dev/userfaultfd", Libc.O_RDWR | Libc.O_CLOEXEC);
            } catch (NativeCallException devError) {
                e.addSuppressed(devError);
                throw e;
            }
            try {
                return Libc.ioctl("USERFAULTFD_IOC_NEW", dev, USERFAULTFD_IOC_NEW, flags);
            } finally {
                Libc.close("/dev/userfaultfd", dev);
            }
        }
    }

    /** UFFDIO_API: returns the features the kernel reports back (all supported ones when none requested). */
    private static long handshake(int fd, long features) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment api = a.allocate(24, 8);
            api.set(ValueLayout.JAVA_LONG, 0, UFFD_API);
            api.set(ValueLayout.JAVA_LONG, 8, features);
            Libc.ioctl("UFFDIO_API", fd, UFFDIO_API, api);
            return api.get(ValueLayout.JAVA_LONG, 8);
        }
    }

    /** Features granted by the handshake. */
    public long features() {
        return features;
    }

    /**
     * Registers {@code range} (page aligned, inside existing mappings) in write-protect mode. Registration
     * alone protects nothing; call {@link #writeProtect}.
     *
     * @throws NativeCallException EINVAL for a misaligned range or one not entirely mapped, EBUSY when
     *                             another userfaultfd already registered it (with WP_ASYNC the kernel
     *                             accepts write-protect-only registration of any memory type, files too)
     */
    public void registerWriteProtect(MemorySegment range) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment reg = a.allocate(32, 8);
            reg.set(ValueLayout.JAVA_LONG, 0, range.address());
            reg.set(ValueLayout.JAVA_LONG, 8, range.byteSize());
            reg.set(ValueLayout.JAVA_LONG, 16, REGISTER_MODE_WP);
            Libc.ioctl("UFFDIO_REGISTER", fd.fd(), UFFDIO_REGISTER, reg);
            long ioctls = reg.get(ValueLayout.JAVA_LONG, 24);
            if ((ioctls & (1L << NR_WRITEPROTECT)) == 0) {
                unregister(range);
                throw new UnsupportedOperationException("UFFDIO_WRITEPROTECT not offered for range at 0x"
                        + Long.toHexString(range.address()) + " (ioctls 0x" + Long.toHexString(ioctls) + ")");
            }
        }
    }

    /** Undoes {@link #registerWriteProtect}; the kernel also removes any protection left on the range. */
    public void unregister(MemorySegment range) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment r = a.allocate(16, 8);
            r.set(ValueLayout.JAVA_LONG, 0, range.address());
            r.set(ValueLayout.JAVA_LONG, 8, range.byteSize());
            Libc.ioctl("UFFDIO_UNREGISTER", fd.fd(), UFFDIO_UNREGISTER, r);
        }
    }

    /** Sets ({@code protect}) or clears write protection on a registered range. */
    public void writeProtect(MemorySegment range, boolean protect) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment wp = a.allocate(24, 8);
            wp.set(ValueLayout.JAVA_LONG, 0, range.address());
            wp.set(ValueLayout.JAVA_LONG, 8, range.byteSize());
            wp.set(ValueLayout.JAVA_LONG, 16, protect ? WRITEPROTECT_MODE_WP : 0);
            Libc.ioctl("UFFDIO_WRITEPROTECT", fd.fd(), UFFDIO_WRITEPROTECT, wp);
        }
    }

    /**
     * Registers {@code range} (page aligned, inside existing mappings) for missing-page faults: from now on a
     * thread touching a page of it that is not populated sleeps until the page is placed.
     *
     * @throws NativeCallException EINVAL for a misaligned range or one not entirely mapped, EBUSY when
     *                             another userfaultfd already registered it
     * @throws UnsupportedOperationException when the kernel offers no UFFDIO_COPY/ZEROPAGE for this memory
     */
    public void registerMissing(MemorySegment range) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment reg = a.allocate(32, 8);
            reg.set(ValueLayout.JAVA_LONG, 0, range.address());
            reg.set(ValueLayout.JAVA_LONG, 8, range.byteSize());
            reg.set(ValueLayout.JAVA_LONG, 16, REGISTER_MODE_MISSING);
            Libc.ioctl("UFFDIO_REGISTER", fd.fd(), UFFDIO_REGISTER, reg);
            long ioctls = reg.get(ValueLayout.JAVA_LONG, 24);
            long needed = (1L << NR_COPY) | (1L << NR_ZEROPAGE) | (1L << NR_WAKE);
            if ((ioctls & needed) != needed) {
                unregister(range);
                throw new UnsupportedOperationException("UFFDIO_COPY/ZEROPAGE not offered for range at 0x"
                        + Long.toHexString(range.address()) + " (ioctls 0x" + Long.toHexString(ioctls) + ")");
            }
        }
    }

    /**
     * Places {@code src} atomically at {@code dst} (an address of the registering process, page aligned,
     * {@code src.byteSize()} a multiple of the page size) and wakes the threads waiting for it. Returns false
     * when the page was already there (EEXIST): nothing was written.
     *
     * @throws NativeCallException for any other failure (EAGAIN is retried: the mappings were changing)
     */
    public boolean copy(long dst, MemorySegment src) {
        MemorySegment copy = scratch.get();
        while (true) {
            copy.set(ValueLayout.JAVA_LONG, 0, dst);
            copy.set(ValueLayout.JAVA_LONG, 8, src.address());
            copy.set(ValueLayout.JAVA_LONG, 16, src.byteSize());
            copy.set(ValueLayout.JAVA_LONG, 24, 0L);
            copy.set(ValueLayout.JAVA_LONG, 32, 0L);
            long rc = Libc.ioctlOrErrno(fd.fd(), UFFDIO_COPY, copy);
            if (rc >= 0) {
                return true;
            }
            if (rc == -EEXIST) {
                return false;
            }
            if (rc != -EAGAIN) {
                throw new NativeCallException("ioctl(UFFDIO_COPY)", (int) -rc);
            }
        }
    }

    /**
     * Maps zero pages over {@code length} bytes at {@code dst} and wakes the threads waiting for them. Returns
     * false when a page of the range was already there.
     */
    public boolean zeroPage(long dst, long length) {
        MemorySegment zero = scratch.get();
        while (true) {
            zero.set(ValueLayout.JAVA_LONG, 0, dst);
            zero.set(ValueLayout.JAVA_LONG, 8, length);
            zero.set(ValueLayout.JAVA_LONG, 16, 0L);
            zero.set(ValueLayout.JAVA_LONG, 24, 0L);
            long rc = Libc.ioctlOrErrno(fd.fd(), UFFDIO_ZEROPAGE, zero);
            if (rc >= 0) {
                return true;
            }
            if (rc == -EEXIST) {
                return false;
            }
            if (rc != -EAGAIN) {
                throw new NativeCallException("ioctl(UFFDIO_ZEROPAGE)", (int) -rc);
            }
        }
    }

    /** Wakes the threads waiting on {@code length} bytes at {@code dst}, whose pages another copy placed. */
    public void wake(long dst, long length) {
        MemorySegment r = scratch.get();
        r.set(ValueLayout.JAVA_LONG, 0, dst);
        r.set(ValueLayout.JAVA_LONG, 8, length);
        Libc.ioctl("UFFDIO_WAKE", fd.fd(), UFFDIO_WAKE, r);
    }

    /**
     * Marks {@code length} bytes at {@code dst} as never arriving: the waiting threads wake and, like any later
     * toucher, take SIGBUS (in Java: an {@link InternalError} from the memory access). Needs
     * {@link #FEATURE_POISON}.
     */
    public void poison(long dst, long length) {
        if ((features & FEATURE_POISON) == 0) {
            throw new UnsupportedOperationException("userfaultfd lacks POISON (features 0x" + Long.toHexString(features) + ")");
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(32, 8);
            p.set(ValueLayout.JAVA_LONG, 0, dst);
            p.set(ValueLayout.JAVA_LONG, 8, length);
            Libc.ioctl("UFFDIO_POISON", fd.fd(), UFFDIO_POISON, p);
        }
    }

    /** A missing-page fault: the address touched, whether it was a write, and the thread (0 without {@link #FEATURE_THREAD_ID}). */
    public record PageFault(long address, boolean write, int threadId) {
    }

    /**
     * Waits up to {@code timeoutMillis} (-1: without limit) for the next fault and returns it, or null when none
     * came in time. Other events (none are requested) are skipped.
     */
    public PageFault readFault(int timeoutMillis) {
        MemorySegment msg = scratch.get();
        while (true) {
            long n = Libc.readOrErrno(fd.fd(), msg, 0, MESSAGE_BYTES); // one message per read
            if (n == -EAGAIN) {
                if (!Libc.pollIn("userfaultfd", fd.fd(), timeoutMillis)) {
                    return null;
                }
                continue;
            }
            if (n < 0) {
                throw new NativeCallException("read(userfaultfd)", (int) -n);
            }
            if (n != MESSAGE_BYTES) {
                throw new IllegalStateException("short userfaultfd message: " + n + " bytes");
            }
            if ((msg.get(ValueLayout.JAVA_BYTE, 0) & 0xff) == EVENT_PAGEFAULT) {
                long flags = msg.get(ValueLayout.JAVA_LONG, 8);
                return new PageFault(msg.get(ValueLayout.JAVA_LONG, 16), (flags & PAGEFAULT_FLAG_WRITE) != 0,
                        msg.get(ValueLayout.JAVA_INT, 24));
            }
        }
    }

    /** Closes the descriptor, which unregisters (and unprotects) everything it registered. */
    @Override
    public void close() {
        fd.close();
    }
}
