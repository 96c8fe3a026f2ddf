package dev.livemig.host;

import dev.livemig.json.Json;
import dev.livemig.machine.HostFeatures;
import dev.livemig.machine.KernelFeature;
import dev.livemig.linux.Memfd;
import dev.livemig.linux.Mmap;
import dev.livemig.linux.NativeCallException;
import dev.livemig.linux.PagemapScan;
import dev.livemig.linux.Userfaultfd;
import dev.livemig.linux.ZeroCopySocket;
import dev.livemig.machine.DirtyTracker;
import dev.livemig.machine.ExplicitDirtyTracker;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * What this host offers livemig, asked of the kernel the way livemig itself uses it (like {@code criu check}):
 * each check tries the feature on scratch memory or a loopback socket and says what livemig will do with the
 * outcome. Tests ask the same questions before they assert which path the product takes.
 *
 * <p>Every check is self-contained and leaves nothing behind; a probe that throws becomes a line that says so.
 */
public final class HostChecks {
    private static final long PAGE = 4096;
    /** Enough fresh memory to measure first touch beyond the noise, little enough for a quick command. */
    private static final long FIRST_TOUCH_BYTES = 256L << 20;

    private HostChecks() {
    }

    /** Every check, in the order {@code livemig check} prints them. */
    public static List<HostCheck> all(HostFeatures features) {
        List<HostCheck> out = new ArrayList<>();
        out.add(guarded("platform", HostChecks::platform));
        out.add(guarded("memory", HostChecks::memory).asEssential());
        out.add(guarded("userfaultfd", () -> userfaultfd(features)));
        out.add(guarded("pagemap-scan", () -> pagemapScan(features)));
        out.add(guarded("dirty-tracking", () -> dirtyTracking(features)));
        out.add(guarded("zero-page-on-read", () -> zeroPageOnRead(features)));
        out.add(guarded("populate-write", () -> populateWrite(features)));
        out.add(guarded("msg-zerocopy", () -> msgZerocopy(features)));
        out.add(guarded("thp", () -> transparentHugePages(features)));
        out.add(guarded("memfd", HostChecks::memfd));
        out.add(guarded("swap", HostChecks::swap));
        out.add(guarded("cores", HostChecks::cores));
        out.add(guarded("first-touch", HostChecks::firstTouch));
        return out;
    }

    /** A probe that fails unexpectedly is reported, never thrown: check must answer on any host. */
    private static HostCheck guarded(String name, Supplier<HostCheck> probe) {
        try {
            return probe.get();
        } catch (RuntimeException | LinkageError e) {
            return HostCheck.missing(name, "the probe failed: " + describe(e),
                    Json.object().put("error", describe(e)).build());
        }
    }

    public static HostCheck platform() {
        String os = System.getProperty("os.name");
        String arch = System.getProperty("os.arch");
        var facts = Json.object().put("os", os).put("arch", arch).put("kernel", System.getProperty("os.version"))
                .put("uid", uid()).put("java", Runtime.version().toString()).build();
        String where = os + " " + System.getProperty("os.version") + " " + arch + ", uid " + uid();
        if ("Linux".equals(os) && ("amd64".equals(arch) || "x86_64".equals(arch))) {
            return HostCheck.ok("platform", where, facts);
        }
        return HostCheck.degraded("platform", where + ": the Linux bindings use x86_64's system call numbers and "
                + "4 KiB pages; userfaultfd dirty tracking falls back to markDirty", facts);
    }

    /** Guest RAM is anonymous mmap through the FFM API: without it livemig cannot hold a machine at all. */
    public static HostCheck memory() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = Mmap.anonymous(arena, 16 * PAGE);
            m.set(ValueLayout.JAVA_LONG, 0, 1);
            return HostCheck.ok("memory", "anonymous mmap through the FFM API works",
                    Json.object().put("mmap", true).build());
        } catch (RuntimeException | OutOfMemoryError | LinkageError e) {
            return HostCheck.missing("memory", "guest RAM cannot be mapped (" + describe(e)
                    + "); run java with --enable-native-access=ALL-UNNAMED", Json.object().put("mmap", false).build());
        }
    }

    public static HostCheck userfaultfd(HostFeatures features) {
        var facts = Json.object();
        String sysctl = read("/proc/sys/vm/unprivileged_userfaultfd").orElse("absent");
        facts.put("unprivileged_userfaultfd_sysctl", sysctl);
        facts.put("dev_userfaultfd", Files.exists(Path.of("/dev/userfaultfd")));
        long supported;
        try {
            supported = Userfaultfd.supportedFeatures();
        } catch (NativeCallException e) {
            String why = e.errno() == 38 ? "the kernel has no userfaultfd (ENOSYS)"
                    : e.errno() == 1 ? "not permitted for uid " + uid() + " (EPERM: seccomp, or vm.unprivileged_userfaultfd="
                    + sysctl + " without access to /dev/userfaultfd)" : e.getMessage();
            facts.put("available", false).put("error", e.getMessage());
            return HostCheck.degraded("userfaultfd", why + "; " + KernelFeature.USERFAULTFD_WP.fallback(), facts.build());
        }
        boolean wpAsync = (supported & Userfaultfd.FEATURE_WP_ASYNC) != 0;
        boolean wpUnpopulated = (supported & Userfaultfd.FEATURE_WP_UNPOPULATED) != 0;
        facts.put("available", true).put("features", "0x" + Long.toHexString(supported))
                .put("wp_async", wpAsync).put("wp_unpopulated", wpUnpopulated);
        String who = uid() == 0 ? "as root" : "as uid " + uid() + " (user-mode-only descriptors need no privilege)";
        String offered = "features 0x" + Long.toHexString(supported) + ", " + who;
        if (!wpAsync || !wpUnpopulated) {
            return HostCheck.degraded("userfaultfd", "no " + (wpAsync ? "" : "WP_ASYNC ") + (wpUnpopulated ? "" : "WP_UNPOPULATED ")
                    + "(Linux 6.7+ has both), " + offered + "; " + KernelFeature.USERFAULTFD_WP.fallback(), facts.build());
        }
        if (!features.allows(KernelFeature.USERFAULTFD_WP)) {
            return switchedOff("userfaultfd", KernelFeature.USERFAULTFD_WP, facts.build());
        }
        return HostCheck.ok("userfaultfd", "WP_ASYNC and WP_UNPOPULATED, " + offered, facts.build());
    }

    public static HostCheck pagemapScan(HostFeatures features) {
        try (Arena arena = Arena.ofConfined(); PagemapScan scan = PagemapScan.open()) {
            MemorySegment m = Mmap.anonymous(arena, 4 * PAGE);
            m.set(ValueLayout.JAVA_BYTE, 2 * PAGE, (byte) 1);
            long[] present = new long[1];
            scan.scan(m, 0, PagemapScan.PAGE_IS_PRESENT, PagemapScan.PAGE_IS_PRESENT, 16,
                    (from, to, c) -> present[0] += (to - from) / PAGE);
            if (present[0] != 1) {
                return HostCheck.degraded("pagemap-scan", "PAGEMAP_SCAN answers but reported " + present[0]
                        + " present pages of 1; " + KernelFeature.PAGEMAP_SCAN.fallback(),
                        Json.object().put("available", false).build());
            }
        } catch (NativeCallException e) {
            return HostCheck.degraded("pagemap-scan", e.getMessage() + " (Linux 6.7+ has it); "
                    + KernelFeature.PAGEMAP_SCAN.fallback(), Json.object().put("available", false).put("error", e.getMessage()).build());
        }
        var facts = Json.object().put("available", true).build();
        if (!features.allows(KernelFeature.PAGEMAP_SCAN)) {
            return switchedOff("pagemap-scan", KernelFeature.PAGEMAP_SCAN, facts);
        }
        return HostCheck.ok("pagemap-scan", KernelFeature.PAGEMAP_SCAN.withIt(), facts);
    }

    /** What {@link DirtyTracker#automatic(HostFeatures)} picks here, after its own end-to-end probe. */
    public static HostCheck dirtyTracking(HostFeatures features) {
        try (DirtyTracker tracker = DirtyTracker.automatic(features)) {
            var facts = Json.object().put("tracker", tracker instanceof ExplicitDirtyTracker ? "explicit" : "userfaultfd")
                    .put("name", tracker.name()).build();
            if (tracker instanceof ExplicitDirtyTracker) {
                return HostCheck.degraded("dirty-tracking", tracker.name() + "; "
                        + KernelFeature.USERFAULTFD_WP.fallback(), facts);
            }
            return HostCheck.ok("dirty-tracking", tracker.name() + ": " + KernelFeature.USERFAULTFD_WP.withIt(), facts);
        }
    }

    /**
     * Whether a read fault on private anonymous memory maps the shared zero page (empty when PAGEMAP_SCAN cannot
     * tell). Kernels differ: some give a read fault a page of its own.
     */
    public static Optional<Boolean> readFaultMapsZeroPage() {
        try (Arena arena = Arena.ofConfined(); PagemapScan scan = PagemapScan.open()) {
            MemorySegment m = Mmap.anonymous(arena, 4 * PAGE);
            if (m.get(ValueLayout.JAVA_LONG, PAGE) != 0) {
                throw new IllegalStateException("fresh anonymous memory is not zero");
            }
            long[] pfnZero = new long[1];
            long[] present = new long[1];
            scan.scan(m, 0, PagemapScan.PAGE_IS_PRESENT, PagemapScan.PAGE_IS_PRESENT | PagemapScan.PAGE_IS_PFNZERO, 16,
                    (from, to, c) -> {
                        present[0] += (to - from) / PAGE;
                        if ((c & PagemapScan.PAGE_IS_PFNZERO) != 0) {
                            pfnZero[0] += (to - from) / PAGE;
                        }
                    });
            // a huge zero page may cover the whole range; either way the page that was read is what counts
            return present[0] == 0 ? Optional.empty() : Optional.of(pfnZero[0] > 0);
        } catch (NativeCallException e) {
            return Optional.empty();
        }
    }

    public static HostCheck zeroPageOnRead(HostFeatures features) {
        Optional<Boolean> shared = features.allows(KernelFeature.PAGEMAP_SCAN) ? readFaultMapsZeroPage() : Optional.empty();
        if (shared.isEmpty()) {
            return HostCheck.degraded("zero-page-on-read", "unknown without PAGEMAP_SCAN; every page is read to find zero pages",
                    Json.object().put("known", false).build());
        }
        var facts = Json.object().put("known", true).put("shared_zero_page", shared.get()).build();
        if (shared.get()) {
            return HostCheck.ok("zero-page-on-read", "a read fault maps the shared zero page: pages only ever read are "
                    + "known zero without reading them", facts);
        }
        return HostCheck.degraded("zero-page-on-read", "a read fault gets a page of its own: livemig reads such pages to "
                + "find them zero (one read each; only never-touched pages are skipped)", facts);
    }

    public static HostCheck populateWrite(HostFeatures features) {
        boolean works;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = Mmap.anonymous(arena, 4 * PAGE);
            works = Mmap.populateWrite(m);
        }
        var facts = Json.object().put("available", works).build();
        if (!works) {
            return HostCheck.degraded("populate-write", "madvise(MADV_POPULATE_WRITE) refused (Linux 5.14+ has it); "
                    + KernelFeature.POPULATE_WRITE.fallback(), facts);
        }
        if (!features.allows(KernelFeature.POPULATE_WRITE)) {
            return switchedOff("populate-write", KernelFeature.POPULATE_WRITE, facts);
        }
        return HostCheck.ok("populate-write", KernelFeature.POPULATE_WRITE.withIt(), facts);
    }

    /** SO_ZEROCOPY on a loopback TCP socket, then one page sent with MSG_ZEROCOPY to see whether it was copied. */
    public static HostCheck msgZerocopy(HostFeatures features) {
        boolean copied;
        try (ServerSocketChannel server = ServerSocketChannel.open()
                .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
             Arena arena = Arena.ofConfined()) {
            try (ZeroCopySocket socket = ZeroCopySocket.connect((InetSocketAddress) server.getLocalAddress());
                 var peer = server.accept()) {
                MemorySegment page = Mmap.anonymous(arena, PAGE);
                socket.sendZeroCopy(List.of(page));
                copied = socket.flush();
                peer.read(java.nio.ByteBuffer.allocate((int) PAGE));
            }
        } catch (NativeCallException e) {
            return HostCheck.missing("msg-zerocopy", e.getMessage() + "; " + KernelFeature.MSG_ZEROCOPY.fallback(),
                    Json.object().put("available", false).put("error", e.getMessage()).build());
        } catch (IOException e) {
            return HostCheck.missing("msg-zerocopy", "no loopback socket to try it on: " + e.getMessage(),
                    Json.object().put("available", false).put("error", String.valueOf(e.getMessage())).build());
        }
        var facts = Json.object().put("available", true).put("loopback_copied", copied).build();
        if (!features.allows(KernelFeature.MSG_ZEROCOPY)) {
            return switchedOff("msg-zerocopy", KernelFeature.MSG_ZEROCOPY, facts);
        }
        return HostCheck.ok("msg-zerocopy", KernelFeature.MSG_ZEROCOPY.withIt() + (copied
                ? " (loopback copies anyway: dirty-sync-missed-zero-copy counts it)" : ""), facts);
    }

    /** The host's THP settings, and whether memory advised as livemig advises guest RAM gets huge pages. */
    public static HostCheck transparentHugePages(HostFeatures features) {
        Optional<String> enabled = read("/sys/kernel/mm/transparent_hugepage/enabled");
        if (enabled.isEmpty()) {
            return HostCheck.missing("thp", "no transparent huge pages in this kernel; "
                    + KernelFeature.TRANSPARENT_HUGEPAGES.fallback(), Json.object().put("mode", "absent").build());
        }
        String mode = selected(enabled.get());
        String defrag = read("/sys/kernel/mm/transparent_hugepage/defrag").map(HostChecks::selected).orElse("absent");
        String shmem = read("/sys/kernel/mm/transparent_hugepage/shmem_enabled").map(HostChecks::selected).orElse("absent");
        Optional<Boolean> gets = advisedMemoryGetsHugePages();
        var facts = Json.object().put("mode", mode).put("defrag", defrag).put("shmem_enabled", shmem)
                .put("advised_memory_gets_huge_pages", gets.map(String::valueOf).orElse("unknown")).build();
        String settings = "mode " + mode + ", defrag " + defrag + ", shmem_enabled " + shmem;
        if (!features.allows(KernelFeature.TRANSPARENT_HUGEPAGES)) {
            return switchedOff("thp", KernelFeature.TRANSPARENT_HUGEPAGES, facts);
        }
        if (mode.equals("never") || gets.equals(Optional.of(false))) {
            return HostCheck.degraded("thp", settings + ": advised memory gets no huge pages here; "
                    + KernelFeature.TRANSPARENT_HUGEPAGES.fallback(), facts);
        }
        return HostCheck.ok("thp", settings + "; " + KernelFeature.TRANSPARENT_HUGEPAGES.withIt()
                + (gets.isEmpty() ? " (whether it gets them cannot be told without PAGEMAP_SCAN)" : ""), facts);
    }

    /**
     * Whether 4 MiB of anonymous memory, aligned and advised as livemig maps guest RAM, is mapped by huge pages
     * once written; empty when that cannot be told (no PAGEMAP_SCAN).
     */
    public static Optional<Boolean> advisedMemoryGetsHugePages() {
        try (Arena arena = Arena.ofConfined(); PagemapScan scan = PagemapScan.open()) {
            MemorySegment m = Mmap.anonymous(arena, 2 * Mmap.HUGE_PAGE_SIZE, Mmap.HUGE_PAGE_SIZE);
            if (!Mmap.adviseHugePages(m)) {
                return Optional.of(false);
            }
            for (long off = 0; off < m.byteSize(); off += PAGE) {
                m.set(ValueLayout.JAVA_BYTE, off, (byte) 1);
            }
            long[] huge = new long[1];
            scan.scan(m, 0, PagemapScan.PAGE_IS_HUGE, PagemapScan.PAGE_IS_HUGE, 16, (from, to, c) -> huge[0] += to - from);
            return Optional.of(huge[0] > 0);
        } catch (RuntimeException | LinkageError e) {
            return Optional.empty();
        }
    }

    public static HostCheck memfd() {
        try {
            Memfd.probe("livemig-check");
            return HostCheck.ok("memfd", "memfd_create works: cpr-transfer keeps guest RAM in memfds and hands them to the new process",
                    Json.object().put("available", true).build());
        } catch (NativeCallException | UnsupportedOperationException e) {
            return HostCheck.missing("memfd", e.getMessage() + " (cpr-transfer cannot hand RAM over without it; every other migration works)",
                    Json.object().put("available", false).put("error", e.getMessage()).build());
        }
    }

    public static HostCheck swap() {
        List<String> lines = lines("/proc/swaps");
        boolean active = lines.size() != 1; // a header only: no swap; unreadable: assume some
        return HostCheck.ok("swap", active ? "swap may be in use: pages that are not present are scanned once more "
                + "for swapped data" : "no swap: a page that is not present was never written",
                Json.object().put("active", active).put("areas", Math.max(0, lines.size() - 1)).build());
    }

    public static HostCheck cores() {
        int n = Runtime.getRuntime().availableProcessors();
        return HostCheck.ok("cores", n + " available to this JVM; multifd channels beyond that share them, and both "
                + "ends of a local migration share them too", Json.object().put("available", n).build());
    }

    /**
     * Writes one byte into each 4 KiB page of fresh anonymous memory, once in 4 KiB pages and once advised for
     * huge pages: the cost of every new page for a destination (and for a source filling its RAM).
     */
    public static HostCheck firstTouch() {
        FirstTouch t = FirstTouch.measure(FIRST_TOUCH_BYTES);
        return HostCheck.ok("first-touch", t.smallMibPerSecond() + " MiB/s for the first write to fresh 4 KiB pages, "
                + t.hugeMibPerSecond() + " MiB/s to memory advised for huge pages (" + (FIRST_TOUCH_BYTES >> 20)
                + " MiB each): a destination's ceiling for pages it has not faulted in", t.toJson());
    }

    private static HostCheck switchedOff(String name, KernelFeature feature, Json.Obj facts) {
        return HostCheck.degraded(name, "offered, but switched off (" + HostFeatures.PROPERTY + "=" + feature.key()
                + "); " + feature.fallback(), facts);
    }

    /** This process's real user id, from /proc (-1 when it cannot be told). */
    public static long uid() {
        for (String line : lines("/proc/self/status")) {
            if (line.startsWith("Uid:")) {
                return Long.parseLong(line.substring(4).strip().split("\\s+")[0]);
            }
        }
        return -1;
    }

    /** The bracketed choice of a sysfs mode file such as "always [madvise] never". */
    private static String selected(String modes) {
        int open = modes.indexOf('[');
        int close = modes.indexOf(']');
        return open >= 0 && close > open ? modes.substring(open + 1, close) : modes.strip();
    }

    private static Optional<String> read(String path) {
        try {
            // by lines: procfs reports size 0 and Files.readString may then return only the first byte
            return Optional.of(String.join("\n", Files.readAllLines(Path.of(path))).strip());
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    private static List<String> lines(String path) {
        try {
            return Files.readAllLines(Path.of(path));
        } catch (IOException | RuntimeException e) {
            return List.of();
        }
    }

    private static String describe(Throwable e) {
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getClass().getSimpleName() + ": " + e.getMessage();
    }
}
