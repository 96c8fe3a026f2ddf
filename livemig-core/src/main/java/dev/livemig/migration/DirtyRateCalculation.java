package dev.livemig.migration;

import dev.livemig.json.Json;
import dev.livemig.machine.DirtyBitmap;
import dev.livemig.machine.DirtyTracker;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RamBlock;
import dev.livemig.wire.MigrationException;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.zip.CRC32C;

/**
 * QEMU's calc-dirty-rate / query-dirty-rate for one machine (migration/dirtyrate.c), measured without
 * migrating. page-sampling hashes a few random pages of each RAM block (sample-pages per GiB), waits
 * calc-time seconds and counts the pages whose hash changed; dirty-bitmap arms the machine's dirty tracking
 * for calc-time seconds and counts every page written. Both report MB/s as QEMU computes it. dirty-ring is
 * KVM's and refused as QEMU refuses it without a dirty ring. One measurement at a time runs on the thread
 * livemig-dirtyrate; {@link #info()} may be read at any moment.
 */
public final class DirtyRateCalculation implements AutoCloseable {
    /** The shortest calc-time QEMU accepts, in seconds. */
    public static final int MIN_CALC_TIME_SEC = 1;
    /** The longest calc-time QEMU accepts, in seconds. */
    public static final int MAX_CALC_TIME_SEC = 60;
    /** The fewest sample-pages (per GiB) QEMU accepts. */
    public static final int MIN_SAMPLE_PAGES = 128;
    /** The most sample-pages (per GiB) QEMU accepts. */
    public static final int MAX_SAMPLE_PAGES = 16384;
    /** sample-pages when calc-dirty-rate gives none, as QEMU. */
    public static final int DEFAULT_SAMPLE_PAGES = 512;
    /** Blocks smaller than this (128 KiB) are not sampled. */
    static final long MIN_SAMPLED_BLOCK = 128L << 10;

    /** How the rate is measured (calc-dirty-rate's {@code mode}). */
    public enum Mode {
        PAGE_SAMPLING("page-sampling"), DIRTY_RING("dirty-ring"), DIRTY_BITMAP("dirty-bitmap");

        private final String qemuName;

        Mode(String qemuName) {
            this.qemuName = qemuName;
        }

        /** The name QMP uses. */
        public String qemuName() {
            return qemuName;
        }

        /** The mode of this QMP name; an unknown one is refused with QEMU's text. */
        public static Mode byQemuName(String name) throws MigrationException {
            for (Mode m : values()) {
                if (m.qemuName.equals(name)) {
                    return m;
                }
            }
            throw new MigrationException("Parameter 'mode' does not accept value '" + name + "'");
        }
    }

    /** Where the last measurement stands (query-dirty-rate's {@code status}). */
    public enum Status {
        UNSTARTED("unstarted"), MEASURING("measuring"), MEASURED("measured");

        private final String qemuName;

        Status(String qemuName) {
            this.qemuName = qemuName;
        }

        /** The name QMP uses. */
        public String qemuName() {
            return qemuName;
        }
    }

    /** query-dirty-rate's reply; {@code dirtyRate} is MB/s, present only once measured (-1 when nothing could be sampled). */
    public record Info(Status status, long startTimeSec, long calcTimeSec, long samplePages, Mode mode, long dirtyRate) {
        /** As query-dirty-rate returns it (QEMU's member names; dirty-rate only once measured). */
        public Json.Obj toJson() {
            var b = Json.object();
            if (status == Status.MEASURED) {
                b.put("dirty-rate", dirtyRate);
            }
            return b.put("status", status.qemuName())
                    .put("start-time", startTimeSec)
                    .put("calc-time", calcTimeSec)
                    .put("sample-pages", status == Status.MEASURED && mode != Mode.PAGE_SAMPLING ? 0 : samplePages)
                    .put("mode", mode.qemuName())
                    .build();
        }
    }

    private final Machine machine;
    private final Supplier<DirtyTracker> trackers;
    private volatile Info info = new Info(Status.UNSTARTED, 0, 0, 0, Mode.PAGE_SAMPLING, -1);
    private Thread thread; // guarded by this

    /** {@code trackers} gives the dirty-bitmap mode its tracker (e.g. {@link DirtyTracker#automatic()}). */
    public DirtyRateCalculation(Machine machine, Supplier<DirtyTracker> trackers) {
        this.machine = machine;
        this.trackers = trackers;
    }

    /** The last measurement, or the one running; readable at any moment. */
    public Info info() {
        return info;
    }

    /** True while a dirty-bitmap measurement holds the machine's dirty tracking (a migration must wait). */
    public boolean trackingDirtyPages() {
        Info i = info;
        return i.status() == Status.MEASURING && i.mode() == Mode.DIRTY_BITMAP;
    }

    /**
     * Starts a measurement with QEMU's checks and texts; {@code samplePages} null means the default.
     * {@code migrating}: a migration holds the dirty tracking, so dirty-bitmap mode must wait.
     */
    public synchronized void start(long calcTimeSec, Long samplePages, Mode mode, boolean migrating) throws MigrationException {
        if (info.status() == Status.MEASURING) {
            throw new MigrationException("the dirty rate is already being measured.");
        }
        if (calcTimeSec < MIN_CALC_TIME_SEC || calcTimeSec > MAX_CALC_TIME_SEC) {
            throw new MigrationException("calc-time is out of range[" + MIN_CALC_TIME_SEC + ", " + MAX_CALC_TIME_SEC + "].");
        }
        if (samplePages != null && mode != Mode.PAGE_SAMPLING) {
            throw new MigrationException("sample-pages is used only in page-sampling mode");
        }
        if (samplePages != null && (samplePages < MIN_SAMPLE_PAGES || samplePages > MAX_SAMPLE_PAGES)) {
            throw new MigrationException("sample-pages is out of range[" + MIN_SAMPLE_PAGES + ", " + MAX_SAMPLE_PAGES + "].");
        }
        if (mode == Mode.DIRTY_RING) {
            throw new MigrationException("mode dirty-ring is not enabled, use other method instead.");
        }
        if (mode == Mode.DIRTY_BITMAP && migrating) {
            throw new MigrationException("dirty-bitmap mode needs the dirty tracking a running migration holds; use page-sampling");
        }
        long perGiB = samplePages == null ? DEFAULT_SAMPLE_PAGES : samplePages;
        Info started = new Info(Status.MEASURING, TimeUnit.NANOSECONDS.toSeconds(System.nanoTime()), calcTimeSec, perGiB, mode, -1);
        info = started;
        thread = Thread.ofPlatform().name("livemig-dirtyrate").daemon().start(() -> run(started));
    }

    private void run(Info started) {
        long[] rateAndMs;
        try {
            rateAndMs = started.mode() == Mode.DIRTY_BITMAP
                    ? dirtyBitmap(machine.ramBlocks(), trackers, started.calcTimeSec() * 1000)
                    : pageSampling(machine.ramBlocks(), started.samplePages(), started.calcTimeSec() * 1000, new SplittableRandom());
        } catch (InterruptedException e) {
            rateAndMs = new long[]{-1, 0}; // closed while measuring
        }
        info = new Info(Status.MEASURED, started.startTimeSec(), rateAndMs[1] / 1000, started.samplePages(), started.mode(), rateAndMs[0]);
    }

    /** Returns {MB/s, milliseconds measured}; MB/s is -1 when no block was large enough to sample. */
    static long[] pageSampling(List<RamBlock> blocks, long perGiB, long calcMs, SplittableRandom random) throws InterruptedException {
        long t0 = System.nanoTime();
        List<Sampled> sampled = new ArrayList<>();
        for (RamBlock b : blocks) {
            long count = b.usedLength() * perGiB >> 30;
            if (b.usedLength() < MIN_SAMPLED_BLOCK || count == 0) {
                continue;
            }
            long pages = b.targetPages();
            long[] page = new long[(int) count];
            int[] hash = new int[(int) count];
            for (int i = 0; i < count; i++) {
                page[i] = pages > 1 ? random.nextLong(pages - 1) : 0; // QEMU draws from [0, pages - 1)
                hash[i] = hash(b, page[i]);
            }
            sampled.add(new Sampled(b, page, hash));
        }
        long ms = waitUntil(t0, calcMs);
        long dirty = 0;
        long samples = 0;
        long totalMb = 0;
        for (Sampled s : sampled) {
            for (int i = 0; i < s.page().length; i++) {
                if (hash(s.block(), s.page()[i]) != s.hash()[i]) {
                    dirty++;
                }
            }
            samples += s.page().length;
            totalMb += s.block().usedLength() >> 20;
        }
        long rate = samples == 0 ? -1 : dirty * totalMb * 1000 / (samples * ms);
        return new long[]{rate, ms};
    }

    private record Sampled(RamBlock block, long[] page, int[] hash) {
    }

    private static int hash(RamBlock b, long page) {
        MemorySegment p = b.memory().asSlice(page * RamBlock.TARGET_PAGE_SIZE, RamBlock.TARGET_PAGE_SIZE);
        var crc = new CRC32C();
        crc.update(p.asByteBuffer());
        return (int) crc.getValue();
    }

    /** Returns {MB/s, milliseconds measured}: every page written while tracking, as QEMU's dirty-bitmap mode. */
    static long[] dirtyBitmap(List<RamBlock> blocks, Supplier<DirtyTracker> trackers, long calcMs) throws InterruptedException {
        try (DirtyTracker tracker = trackers.get()) {
            List<DirtyBitmap> counted = new ArrayList<>();
            for (RamBlock b : blocks) {
                var scratch = new DirtyBitmap(b.targetPages());
                b.dirtyLog().drainInto(scratch); // writes from before the measurement do not count
                tracker.start(b);
                counted.add(new DirtyBitmap(b.targetPages()));
            }
            long t0 = System.nanoTime();
            long ms;
            long pages = 0;
            try {
                ms = waitUntil(t0, calcMs);
            } finally {
                for (int i = 0; i < blocks.size(); i++) {
                    tracker.stop(blocks.get(i)); // collects what was written since start
                    pages += blocks.get(i).dirtyLog().drainInto(counted.get(i));
                }
            }
            return new long[]{(pages * RamBlock.TARGET_PAGE_SIZE >> 20) * 1000 / ms, ms};
        }
    }

    /** Sleeps until {@code calcMs} after {@code t0}; returns the milliseconds that really passed (at least calcMs). */
    private static long waitUntil(long t0, long calcMs) throws InterruptedException {
        long left = t0 + TimeUnit.MILLISECONDS.toNanos(calcMs) - System.nanoTime();
        if (left > 0) {
            TimeUnit.NANOSECONDS.sleep(left);
        }
        return Math.max(calcMs, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
    }

    /** Interrupts a running measurement and waits for its thread. */
    @Override
    public void close() {
        Thread t;
        synchronized (this) {
            t = thread;
        }
        if (t != null) {
            t.interrupt();
            try {
                t.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
