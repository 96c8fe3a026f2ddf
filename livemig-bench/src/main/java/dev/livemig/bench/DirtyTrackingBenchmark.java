package dev.livemig.bench;

import dev.livemig.linux.Mmap;
import dev.livemig.machine.DirtyTracker;
import dev.livemig.machine.RamBlock;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;

/**
 * What userfaultfd dirty tracking costs over 1 GiB of populated guest RAM, in 4 KiB pages and in transparent huge
 * pages: arming it (the setup phase of a migration), the guest writing every page once while it is armed (each
 * first write takes a fault; over huge pages the first one into each 2 MiB also splits it), and the scan
 * that collects those writes and re-arms them. Dirty pages are reported per 4 KiB page either way: the
 * benchmark also checks that the count is exact.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3)
@Measurement(iterations = 10)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xmx256m"})
public class DirtyTrackingBenchmark {
    private static final long PAGE = RamBlock.TARGET_PAGE_SIZE;

    @Param({"1024"})
    public long sizeMiB;

    @Param({"small", "huge"})
    public String pages;

    private Arena arena;
    private DirtyTracker tracker;
    private RamBlock block;

    @Setup(Level.Invocation)
    public void populate() {
        arena = Arena.ofShared();
        tracker = DirtyTracker.automatic();
        block = RamBlock.anonymous(arena, "ram", sizeMiB << 20, pages.equals("huge"));
        if (!Mmap.populateWrite(block.memory())) {
            block.memory().fill((byte) 0);
        }
    }

    @TearDown(Level.Invocation)
    public void release() {
        tracker.close();
        arena.close();
    }

    /** The setup phase's part: register and write-protect every page. */
    @Benchmark
    public RamBlock arm() {
        tracker.start(block);
        return block;
    }

    /** Armed, then the guest writes one byte into every 4 KiB page: the faults the guest pays for tracking. */
    @Benchmark
    public long writeEveryPageWhileArmed() {
        tracker.start(block);
        long sum = 0;
        for (long off = 0; off < block.usedLength(); off += PAGE) {
            block.memory().set(ValueLayout.JAVA_BYTE, off, (byte) 1);
            sum++;
        }
        return sum;
    }

    /** Armed, every page written, then one collect: the scan that reports them all and re-arms them. */
    @Benchmark
    public long collectEveryPageWritten() {
        tracker.start(block);
        for (long off = 0; off < block.usedLength(); off += PAGE) {
            block.memory().set(ValueLayout.JAVA_BYTE, off, (byte) 1);
        }
        tracker.collect(block);
        long dirty = block.dirtyLog().count();
        if (dirty != block.targetPages()) {
            throw new IllegalStateException("dirty tracking lost writes: " + dirty + " of " + block.targetPages());
        }
        return dirty;
    }
}
