package dev.livemig.bench;

import dev.livemig.machine.Machine;
import dev.livemig.savevm.Snapshots;
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

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * Whole-machine snapshot save and load of one RAM block to /dev/shm (tmpfs), random or all-zero content.
 * One operation moves {@code sizeMiB} MiB; throughput = size / time. Loads go into a fresh machine each
 * time, so the destination's first-touch page faults are part of the cost, as in a real migration.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2)
@Measurement(iterations = 5)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xmx1g"})
public class SnapshotBenchmark {
    @Param({"1024"})
    public long sizeMiB;

    @Param({"random", "zero"})
    public String content;

    @Param({"/dev/shm"})
    public String dir;

    private Machine source;
    private Machine target;
    private Path saveFile;
    private Path loadFile;

    @Setup(Level.Trial)
    public void prepare() throws Exception {
        source = machine();
        if (content.equals("random")) {
            fillRandom(source.ramBlocks().getFirst().memory());
        }
        saveFile = Path.of(dir, "livemig-bench-save-" + ProcessHandle.current().pid() + ".snap");
        loadFile = Path.of(dir, "livemig-bench-load-" + ProcessHandle.current().pid() + ".snap");
        Snapshots.save(source, loadFile);
    }

    @Setup(Level.Invocation)
    public void freshTarget() {
        target = machine();
    }

    @TearDown(Level.Invocation)
    public void dropTarget() {
        target.close();
    }

    @TearDown(Level.Trial)
    public void cleanup() throws Exception {
        source.close();
        Files.deleteIfExists(saveFile);
        Files.deleteIfExists(loadFile);
    }

    @Benchmark
    public void save() throws Exception {
        Snapshots.save(source, saveFile);
    }

    @Benchmark
    public Object load() throws Exception {
        return Snapshots.load(target, loadFile);
    }

    private Machine machine() {
        return Machine.builder("livemig-bench").ram("bench.ram", sizeMiB << 20).build();
    }

    private static void fillRandom(MemorySegment ram) {
        var rnd = new SplittableRandom(42);
        for (long off = 0; off < ram.byteSize(); off += 8) {
            ram.set(ValueLayout.JAVA_LONG_UNALIGNED, off, rnd.nextLong());
        }
    }

}
