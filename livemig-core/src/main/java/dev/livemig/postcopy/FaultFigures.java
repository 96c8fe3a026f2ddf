package dev.livemig.postcopy;

import java.util.List;

/**
 * What a {@link PageServer} measured of the guest's faults during postcopy: faults read, pages asked for, the
 * fault-to-placement latency of requested pages (p50, p99 and a histogram), and blocktime: per guest thread the
 * time it waited for pages, and the time during which at least one guest thread waited.
 *
 * @param latencyHistogram {@code [i]}: requested pages placed within [2^i, 2^(i+1)) microseconds of their first
 *                         fault (bucket 0 also holds those under 1 µs)
 */
public record FaultFigures(long faults, long requests, long latencyP50Nanos, long latencyP99Nanos, long blocktimeNanos,
                           List<ThreadBlocktime> threads, long[] latencyHistogram) {
    public static final int BUCKETS = 32;

    public FaultFigures {
        threads = List.copyOf(threads);
        latencyHistogram = latencyHistogram.clone();
    }

    /** How long the guest thread {@code threadId} (the kernel's, as userfaultfd reports it) waited for pages. */
    public record ThreadBlocktime(long threadId, long nanos) {
    }

    /** The bucket of a latency: floor(log2(microseconds)), 0 below 2 µs, the last one for everything beyond. */
    static int bucket(long nanos) {
        long micros = nanos / 1_000;
        return micros < 2 ? 0 : Math.min(BUCKETS - 1, 63 - Long.numberOfLeadingZeros(micros));
    }

    /** Faults answered, as a histogram's total: the pages whose latency was measured. */
    public long measuredPages() {
        long n = 0;
        for (long c : latencyHistogram) {
            n += c;
        }
        return n;
    }
}
