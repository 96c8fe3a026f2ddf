package dev.livemig.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A userfaultfd(2) descriptor set up for asynchronous write-protect tracking, reached with the FFM API.
 *
 * <p>With {@link #FEATURE_WP_ASYNC} the kernel resolves write-protect faults itself: a write to a
 * protected page clears the page's uffd-wp bit and proceeds, nothing is queued on the descriptor and no
 * thread ever blocks. The cleared bit is what {@link PagemapScan} reports as {@code PAGE_IS_WRITTEN}.
 * {@link #FEATURE_WP_UNPOPULATED} makes protection cover never-touched (pte_none) pages too, by installing
 * PTE markers; without it PAGEMAP_SCAN refuses anonymous ranges under {@code PM_SCAN_CHECK_WPASYNC}.
 *
 * <p>Created by a dirty tracker; its methods may be called from any thread, but {@link #close()} must not
 * race with them. Closing the descriptor unregisters every range it registered, clearing the protection.
 * Struct layouts and ioctl numbers are those of include/uapi/linux/userfaultfd.h.
 */
public final class Userfaultfd implements AutoCloseable {
    /** x86_64 system call number. */
    private static final long NR_USERFAULTFD = 323;
    /** userfaultfd(2) flag: handle user-mode faults only, which lets unprivileged callers in too. */
    private static final int UFFD_USER_MODE_ONLY = 1;
    private static final long UFFD_API = 0xAA;

    public static final long FEATURE_WP_HUGETLBFS_SHMEM = 1L << 12;
    public static final long FEATURE_WP_UNPOPULATED = 1L << 13;
    public static final long FEATURE_WP_ASYNC = 1L << 15;

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
    /** /dev/userfaultfd: {@code _IO(0xAA, 0)}, argument = the flags userfaultfd(2) would take. */
    private static final long USERFAULTFD_IOC_NEW = Libc.ioc(0, UFFDIO, 0x00, 0);

    private final FileDescriptorHolder fd;
    private final long features;

    private Userfaultfd(int fd, long features) {
        this.fd = new FileDescriptorHolder(this, "userfaultfd", fd);
        this.features = features;
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

    /** Closes the descriptor, which unregisters (and unprotects) everything it registered. */
    @Override
    public void close() {
        fd.close();
    }
}
