package dev.livemig.multifd;

import dev.livemig.machine.RamBlock;
import dev.livemig.ram.PageChannels;
import dev.livemig.transport.MigrationChannel;
import dev.livemig.transport.ZeroCopySocketChannel;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamWriter;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The source's multifd channels (§9, QEMU 7.2): one thread per connection (livemig-multifd-send-N) writes the
 * initial packet, then one packet per batch the migration thread hands it. The migration thread gathers pages
 * of one block into a batch of at most {@link MultifdPacket#PAGES_PER_PACKET}, gives each full batch (or a
 * batch ended by another block) to the next idle channel, and at each sync point gives every channel a SYNC
 * packet and waits until all are written. Pages are read from guest memory by the channel, when it writes
 * them: with compression none they leave with one gathering write, without a copy.
 *
 * <p>A failing channel fails the migration thread's next call with its reason; {@link #abort} (from any
 * thread) closes every connection, which unblocks writers stuck on a dead peer.
 */
public final class MultifdSender implements PageChannels, AutoCloseable {
    /** How the pages of a packet are encoded: multifd-compression and its level. */
    public record Compression(String method, int level) {
        public Compression {
            if (!List.of("none", "zlib", "zstd").contains(method)) {
                throw new IllegalArgumentException("multifd-compression " + method + " is not one of none, zlib, zstd");
            }
        }

        int flag() {
            return switch (method) {
                case "zlib" -> MultifdPacket.COMPRESSION_ZLIB;
                case "zstd" -> MultifdPacket.COMPRESSION_ZSTD;
                default -> 0;
            };
        }
    }

    private static final long POLL_MS = 50;

    private final Compression compression;
    private final boolean zeroCopy;
    private final java.util.concurrent.atomic.AtomicLong zeroCopyMisses = new java.util.concurrent.atomic.AtomicLong();
    private volatile boolean recordsEvents = true;
    private final List<Sender> senders = new ArrayList<>();
    private final BlockingQueue<Sender> idle;
    private volatile String failure;
    private volatile boolean closed;

    // the migration thread's batch
    private RamBlock batchBlock;
    private final long[] batch = new long[MultifdPacket.PAGES_PER_PACKET];
    private final long[] zeroBatch = new long[MultifdPacket.PAGES_PER_PACKET];
    private int zeroCount;
    private final byte[] uuid;
    private int batchCount;
    private long packetNum;
    private long queued;

    /** Starts one sender per connection; channel ids are the list's order. */
    public MultifdSender(List<MigrationChannel> connections, Compression compression) throws MigrationException {
        this(connections, compression, false);
    }

    /**
     * With {@code zeroCopy} (zero-copy-send; compression none) every connection is a
     * {@link ZeroCopySocketChannel}: pages go with MSG_ZEROCOPY and each SYNC waits for the kernel's reports.
     */
    public MultifdSender(List<? extends MigrationChannel> connections, Compression compression, boolean zeroCopy)
            throws MigrationException {
        this(connections, compression, zeroCopy, new byte[16]);
    }

    /** {@code uuid}: the source VM's UUID the initial packets announce (16 bytes; all zero without one). */
    public MultifdSender(List<? extends MigrationChannel> connections, Compression compression, boolean zeroCopy, byte[] uuid)
            throws MigrationException {
        this(connections.size(), connections::get, compression, zeroCopy, uuid);
    }

    /** Opens channel {@code id} of a multifd migration. */
    @FunctionalInterface
    public interface ChannelOpener {
        MigrationChannel open(int id) throws MigrationException;
    }

    /**
     * Opens {@code channels} channels one after the other, each sending its initial packet as soon as it is open, as
     * QEMU's source does: QEMU 7.2's destination reads a channel's initial packet before it takes the next channel
     * (under TLS: before it runs the next handshake). A channel that fails to open closes those already open.
     */
    public MultifdSender(int channels, ChannelOpener opener, Compression compression, boolean zeroCopy, byte[] uuid)
            throws MigrationException {
        if (uuid.length != 16) {
            throw new IllegalArgumentException("a UUID is 16 bytes: " + uuid.length);
        }
        this.uuid = uuid.clone();
        this.zeroCopy = zeroCopy;
        this.compression = compression;
        if (zeroCopy && !compression.method().equals("none")) {
            throw new IllegalArgumentException("zero-copy-send needs compression none and zero-copy sockets");
        }
        this.idle = new ArrayBlockingQueue<>(channels);
        try {
            for (int id = 0; id < channels; id++) {
                MigrationChannel c = opener.open(id);
                if (zeroCopy && !(c instanceof ZeroCopySocketChannel)) {
                    MigrationChannel.closeQuietly(c);
                    throw new IllegalArgumentException("zero-copy-send needs compression none and zero-copy sockets");
                }
                var sender = new Sender(id, c);
                senders.add(sender);
                sender.start();
            }
        } catch (MigrationException | RuntimeException e) {
            close();
            throw e;
        }
    }

    @Override
    public void queue(RamBlock block, long offset) throws MigrationException {
        if (batchCount + zeroCount > 0 && block != batchBlock) {
            dispatch(); // a packet names one block
        }
        batchBlock = block;
        batch[batchCount++] = offset;
        queued += RamBlock.TARGET_PAGE_SIZE;
        if (batchCount + zeroCount == batch.length) {
            dispatch();
        }
    }

    @Override
    public void queueZero(RamBlock block, long offset) throws MigrationException {
        if (batchCount + zeroCount > 0 && block != batchBlock) {
            dispatch();
        }
        batchBlock = block;
        zeroBatch[zeroCount++] = offset;
        if (batchCount + zeroCount == batch.length) {
            dispatch();
        }
    }

    @Override
    public void sync() throws MigrationException {
        var event = new MultifdSyncEvent();
        event.begin();
        if (batchCount + zeroCount > 0) {
            dispatch();
        }
        List<Sender> all = new ArrayList<>(senders.size());
        for (int i = 0; i < senders.size(); i++) {
            all.add(takeIdle()); // each channel once, as it finishes what it was given
        }
        for (Sender s : all) {
            s.give(new Job(MultifdPacket.FLAG_SYNC, null, new long[0], 0, packetNum++));
            queued += MultifdPacket.RAM_HEADER_SIZE;
        }
        all.clear();
        for (int i = 0; i < senders.size(); i++) {
            all.add(takeIdle()); // every SYNC packet written
        }
        idle.addAll(all);
        event.end();
        if (recordsEvents && event.shouldCommit()) {
            event.channels = senders.size();
            event.packets = packetNum;
            event.zeroCopyMisses = zeroCopyMisses.get();
            event.commit();
        }
    }

    /** Whether syncs are recorded as JFR events (a warm-up's scratch migration's are not). */
    public MultifdSender recordsEvents(boolean on) {
        recordsEvents = on;
        return this;
    }

    @Override
    public long bytesQueued() {
        return queued;
    }

    @Override
    public long zeroCopyMisses() {
        return zeroCopyMisses.get();
    }

    private void dispatch() throws MigrationException {
        Sender s = takeIdle();
        long[] offsets = Arrays.copyOf(batch, batchCount + zeroCount); // the normal pages first, then the zero ones
        System.arraycopy(zeroBatch, 0, offsets, batchCount, zeroCount);
        s.give(new Job(0, batchBlock, offsets, zeroCount, packetNum++));
        queued += MultifdPacket.RAM_HEADER_SIZE;
        batchCount = 0;
        zeroCount = 0;
    }

    private Sender takeIdle() throws MigrationException {
        try {
            while (true) {
                String why = failure;
                if (why != null) {
                    throw new MigrationException(why);
                }
                if (closed) {
                    throw new MigrationException("multifd: channels closed");
                }
                Sender s = idle.poll(POLL_MS, TimeUnit.MILLISECONDS);
                if (s != null) {
                    return s;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new MigrationException("multifd: interrupted while waiting for a channel");
        }
    }

    private void fail(String why) {
        if (failure == null && !closed) {
            failure = why;
        }
    }

    /** Closes every connection now (from any thread): a cancelled or failed migration. */
    public void abort() {
        closed = true;
        senders.forEach(s -> MigrationChannel.closeQuietly(s.connection));
    }

    /** Stops the senders and closes their connections; what was written stays written. */
    @Override
    public void close() {
        closed = true;
        for (Sender s : senders) {
            s.jobs.offer(Job.STOP);
        }
        for (Sender s : senders) {
            try {
                s.thread.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        for (Sender s : senders) {
            try {
                s.connection.endOutput(); // under TLS a close_notify: QEMU 10.0 takes a session without one as cut
            } catch (IOException e) {
                // the destination is gone: what it read is judged by the main channel's end
            }
        }
        senders.forEach(s -> MigrationChannel.closeQuietly(s.connection));
    }

    /** One packet to write: the last {@code zeroPages} offsets are zero pages; {@code block} is null for a SYNC. */
    private record Job(int flags, RamBlock block, long[] offsets, int zeroPages, long packetNum) {
        static final Job STOP = new Job(0, null, new long[0], 0, -1);

        int normalPages() {
            return offsets.length - zeroPages;
        }
    }

    /** One channel's thread and its encoder. */
    private final class Sender {
        final int id;
        final MigrationChannel connection;
        final BlockingQueue<Job> jobs = new LinkedBlockingQueue<>();
        Thread thread;

        Sender(int id, MigrationChannel connection) {
            this.id = id;
            this.connection = connection;
        }

        void start() {
            thread = Thread.ofPlatform().name("livemig-multifd-send-" + id).daemon().start(this::run);
        }

        void give(Job job) {
            jobs.add(job);
        }

        private void run() {
            var out = new StreamWriter(connection, 64 << 10);
            try (var zlib = compression.method().equals("zlib") ? new ZlibChannelCodec.Encoder(compression.level()) : null;
                 var zstd = compression.method().equals("zstd") ? new ZstdChannelCodec.Encoder(compression.level()) : null) {
                new MultifdPacket.Initial(uuid, id).write(out); // all zero without a UUID, as QEMU without -uuid
                out.flush();
                idle.add(this);
                while (true) {
                    Job job = jobs.take();
                    if (job == Job.STOP) {
                        return;
                    }
                    write(out, job, zlib, zstd);
                    idle.add(this);
                }
            } catch (MigrationException | RuntimeException e) {
                fail("multifd channel " + id + ": " + (e.getMessage() == null ? e.toString() : e.getMessage()));
            } catch (InterruptedException e) {
                fail("multifd channel " + id + ": interrupted");
            }
        }

        private void write(StreamWriter out, Job job, ZlibChannelCodec.Encoder zlib, ZstdChannelCodec.Encoder zstd)
                throws MigrationException {
            int n = job.normalPages();
            int z = job.zeroPages();
            List<MemorySegment> pages = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                pages.add(job.block().page(job.offsets()[i]));
            }
            // compression is marked on packets with pages (7.2: normal ones only; current QEMU: zero ones too)
            int flags = job.flags() | (n + z > 0 ? compression.flag() : 0);
            String name = job.block() == null ? "" : job.block().name();
            if (zeroCopy) {
                new MultifdPacket.Ram(flags, n, z, n * RamBlock.TARGET_PAGE_SIZE, job.packetNum(), name, job.offsets()).write(out);
                out.flush(); // the header the ordinary way, as QEMU sends it
                try {
                    var socket = (ZeroCopySocketChannel) connection;
                    if (n > 0) {
                        socket.writeZeroCopy(pages);
                    }
                    if (job.block() == null && socket.flushZeroCopy()) { // at each sync point, as QEMU
                        zeroCopyMisses.incrementAndGet();
                    }
                } catch (java.io.IOException e) {
                    throw new MigrationException("write failed: " + e.getMessage(), e);
                }
                return;
            }
            if (n == 0 || zlib == null && zstd == null) {
                new MultifdPacket.Ram(flags, n, z, n * RamBlock.TARGET_PAGE_SIZE, job.packetNum(), name, job.offsets()).write(out);
                for (MemorySegment page : pages) {
                    out.page(page); // by reference: straight from guest memory to the socket
                }
            } else if (zlib != null) {
                int size = zlib.encode(pages);
                new MultifdPacket.Ram(flags, n, z, size, job.packetNum(), name, job.offsets()).write(out);
                out.bytes(zlib.payload(), 0, size);
            } else {
                int size = zstd.encode(pages);
                new MultifdPacket.Ram(flags, n, z, size, job.packetNum(), name, job.offsets()).write(out);
                out.page(MemorySegment.ofBuffer(zstd.payload())); // the buffer is reused only after this flush
            }
            out.flush();
        }
    }
}
