package dev.livemig.bench;

import dev.livemig.ram.Xbzrle;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * XBZRLE encode and decode of 4 KiB pages with a share of their bytes changed, in runs of 1 to 8 bytes at
 * random places (a guest updating fields). 256 page pairs rotate so caches do not flatter. Throughput is
 * pages per second; MB/s = ops/s × 4096 / 10^6.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class XbzrleBenchmark {
    private static final int PAGES = 256;

    @Param({"1", "10", "50"})
    public int changedPercent;

    private byte[][] old;
    private byte[][] cur;
    private byte[][] deltas;
    private int[] lengths;
    private MemorySegment[] targets;
    private final byte[] dst = new byte[4096];
    private int next;

    @Setup
    public void setup() {
        var r = new SplittableRandom(7);
        old = new byte[PAGES][4096];
        cur = new byte[PAGES][];
        deltas = new byte[PAGES][4096];
        lengths = new int[PAGES];
        targets = new MemorySegment[PAGES];
        for (int p = 0; p < PAGES; p++) {
            r.nextBytes(old[p]);
            cur[p] = old[p].clone();
            int toChange = 4096 * changedPercent / 100;
            for (int changed = 0; changed < toChange; ) {
                int at = r.nextInt(4096);
                int len = 1 + r.nextInt(8);
                for (int i = at; i < Math.min(4096, at + len) && changed < toChange; i++, changed++) {
                    cur[p][i] = (byte) (old[p][i] + 1 + r.nextInt(255));
                }
            }
            lengths[p] = Xbzrle.encode(old[p], cur[p], deltas[p], 4096);
            // decoded into off-heap memory, as the destination decodes into guest RAM
            targets[p] = java.lang.foreign.Arena.global().allocate(4096);
            MemorySegment.copy(MemorySegment.ofArray(old[p]), 0, targets[p], 0, 4096);
        }
    }

    @Benchmark
    public int encode() {
        int p = next++ & (PAGES - 1);
        return Xbzrle.encode(old[p], cur[p], dst, 4096);
    }

    @Benchmark
    public int decode() throws Xbzrle.Malformed {
        int p = next++ & (PAGES - 1);
        // 50 % changed overflows (sent whole): decoding it is not a thing that happens
        return lengths[p] <= 0 ? 0 : Xbzrle.decode(deltas[p], lengths[p], targets[p]);
    }
}
