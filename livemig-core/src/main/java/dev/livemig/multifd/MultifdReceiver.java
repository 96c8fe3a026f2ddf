package dev.livemig.multifd;

import dev.livemig.machine.RamBlock;
import dev.livemig.transport.MigrationChannel;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The destination's multifd channels (§9, QEMU 7.2's per-section mode): one thread per channel
 * (livemig-multifd-recv-N) checks the initial packet, then places each packet's pages straight into guest
 * memory, decompressing with the channel's own stream. A SYNC packet parks its channel until the load thread,
 * at the RAM section's EOS, has seen one SYNC from every channel ({@link #sync}): so no page sent before the
 * sync point arrives after it. A failing channel fails the next sync with its reason.
 */
public final class MultifdReceiver implements AutoCloseable {
    private final int channels;
    private final int compression; // MultifdPacket.COMPRESSION_* or 0
    private final Map<String, RamBlock> blocks = new HashMap<>();
    private final Map<String, Long> lengths = new HashMap<>();
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final List<MigrationChannel> open = new ArrayList<>();   // guarded by lock
    private final List<Thread> threads = new ArrayList<>();          // guarded by lock
    private final boolean[] idsSeen;                                  // guarded by lock
    private final Map<MultifdPageReader, Integer> readers = new HashMap<>(); // guarded by lock: channel id of each
    private final Map<MultifdPageReader, Long> placedAtSync = new HashMap<>(); // guarded by lock
    private int parked;      // guarded by lock: channels waiting in a SYNC
    private long generation; // guarded by lock: syncs released so far
    private String failure;  // guarded by lock: the first channel error
    private boolean closed;  // guarded by lock
    private final long missingChannelTimeoutNs;
    private volatile java.util.function.Consumer<String> blockFed = name -> { };

    /** Told the block of each packet that carries pages (x-ignore-shared's check that every block got some). */
    public void onBlockFed(java.util.function.Consumer<String> hook) {
        this.blockFed = hook;
    }
    private byte[] expectedUuid; // guarded by lock once channels run: null until the first channel names one (recording)

    /** {@code compression}: none, zlib or zstd, as multifd-compression says on this side. */
    public MultifdReceiver(int channels, String compression, List<RamBlock> ramBlocks) {
        this(channels, compression, ramBlocks, Duration.ofSeconds(10));
    }

    /** {@code missingChannelTimeout}: how long a sync waits for channels that never connected. */
    public MultifdReceiver(int channels, String compression, List<RamBlock> ramBlocks, Duration missingChannelTimeout) {
        this(channels, compression, ramBlocks, missingChannelTimeout, new byte[16]);
    }

    /**
     * {@code expectedUuid}: the UUID every channel's initial packet must carry, as QEMU checks it (this end's VM
     * UUID; all zero without one); null accepts any one UUID, the same on every channel (a recording, which
     * has no VM of its own).
     */
    public MultifdReceiver(int channels, String compression, List<RamBlock> ramBlocks, Duration missingChannelTimeout,
                           byte[] expectedUuid) {
        this.expectedUuid = expectedUuid == null ? null : expectedUuid.clone();
        this.missingChannelTimeoutNs = missingChannelTimeout.toNanos();
        this.channels = channels;
        this.compression = switch (compression) {
            case "zlib" -> MultifdPacket.COMPRESSION_ZLIB;
            case "zstd" -> MultifdPacket.COMPRESSION_ZSTD;
            default -> 0;
        };
        this.idsSeen = new boolean[channels];
        for (RamBlock b : ramBlocks) {
            blocks.put(b.name(), b);
            lengths.put(b.name(), b.usedLength());
        }
    }

    /** Takes one more accepted connection as a multifd channel and starts reading it. */
    public void add(MigrationChannel channel) {
        lock.lock();
        try {
            if (closed) {
                MigrationChannel.closeQuietly(channel);
                return;
            }
            open.add(channel);
            Thread t = Thread.ofPlatform().name("livemig-multifd-recv-" + threads.size()).daemon().start(() -> run(channel));
            threads.add(t);
        } finally {
            lock.unlock();
        }
    }

    private void run(MigrationChannel channel) {
        // a small buffer: headers go through it, page data mostly straight into guest memory (scattering reads)
        var in = new StreamReader(channel, compression == 0 ? 4096 : 256 << 10);
        try (var pages = new MultifdPageReader(compression, blocks, lengths, blockFed)) {
            byte[] expected;
            lock.lock();
            try {
                expected = expectedUuid;
            } finally {
                lock.unlock();
            }
            var initial = MultifdPacket.Initial.read(in, expected, channels);
            int id = initial.channelId();
            in.section("multifd channel " + id);
            lock.lock();
            try {
                if (idsSeen[id]) {
                    throw new MigrationException("multifd: channel id " + id + " connected twice");
                }
                idsSeen[id] = true;
                readers.put(pages, id);
                if (expectedUuid == null) {
                    expectedUuid = initial.uuid(); // the first channel's, for the others to match
                } else if (!java.util.Arrays.equals(expectedUuid, initial.uuid())) {
                    throw new MigrationException("multifd: channel " + id + " carries another uuid than the first channel");
                }
            } finally {
                lock.unlock();
            }
            pages.readUntilEnd(in, () -> park(pages));
            // The last SYNC parks a channel until the load is past its last sync point, so a stream that ends
            // between packets before then lacks a SYNC the load would wait for in vain.
            fail(in.error("multifd: the channel ended before the SYNC the load waits for").getMessage());
        } catch (MigrationException | RuntimeException e) {
            fail(e.getMessage() == null ? e.toString() : e.getMessage());
        }
    }

    /** A channel at a SYNC waits here until the load thread releases every channel. */
    private void park(MultifdPageReader channel) throws MigrationException {
        lock.lock();
        try {
            placedAtSync.put(channel, channel.pagesPlaced());
            long mine = generation;
            parked++;
            changed.signalAll();
            while (generation == mine && !closed && failure == null) {
                changed.awaitUninterruptibly();
            }
            if (closed || failure != null) {
                throw new MigrationException("multifd: stopped while waiting at a sync point");
            }
        } finally {
            lock.unlock();
        }
    }

    private void fail(String why) {
        lock.lock();
        try {
            if (failure == null && !closed) {
                failure = why;
            }
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /**
     * The RAM section's EOS (7.2): waits until every channel has delivered one SYNC packet, so all pages sent
     * before it are in memory, then lets the channels go on.
     */
    public void sync() throws MigrationException {
        lock.lock();
        try {
            long waited = 0;
            while (parked < channels && failure == null && !closed) {
                long start = System.nanoTime();
                try {
                    changed.awaitNanos(TimeUnit.SECONDS.toNanos(1));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new MigrationException("multifd: interrupted while waiting for a sync point");
                }
                waited += System.nanoTime() - start;
                if (open.size() < channels && waited > missingChannelTimeoutNs) {
                    // a source with fewer multifd-channels would leave this end waiting forever (QEMU 7.2 does)
                    throw new MigrationException("multifd: only " + open.size() + " of " + channels
                            + " channels connected after " + TimeUnit.NANOSECONDS.toSeconds(waited)
                            + " s: multifd-channels must be the same on both sides");
                }
            }
            if (failure != null) {
                throw new MigrationException(failure);
            }
            if (closed) {
                throw new MigrationException("multifd: closed while waiting for a sync point");
            }
            parked = 0;
            generation++;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /**
     * At the end of the load: fails if a channel placed pages after its last SYNC. Such pages were not ordered
     * before the device state, and a stream that sends them lacks its final sync point (a 7.2-dialect source
     * into a per-round destination would leave QEMU's channels parked instead): never a completed migration.
     */
    public void checkNothingAfterLastSync() throws MigrationException {
        lock.lock();
        try {
            for (var e : readers.entrySet()) {
                long after = e.getKey().pagesPlaced() - placedAtSync.getOrDefault(e.getKey(), 0L);
                if (after > 0) {
                    throw new MigrationException("multifd: channel " + e.getValue() + " placed " + after
                            + " pages after the stream's last sync point: the source's final RAM section has no multifd sync");
                }
            }
        } finally {
            lock.unlock();
        }
    }

    /** Closes every channel and waits for their threads. */
    @Override
    public void close() {
        List<Thread> toJoin;
        lock.lock();
        try {
            closed = true;
            changed.signalAll();
            open.forEach(MigrationChannel::closeQuietly);
            toJoin = List.copyOf(threads);
        } finally {
            lock.unlock();
        }
        for (Thread t : toJoin) {
            try {
                t.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
