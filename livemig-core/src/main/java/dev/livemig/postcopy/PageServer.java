package dev.livemig.postcopy;

import dev.livemig.linux.DescriptorChannel;
import dev.livemig.linux.ReceivedDescriptor;
import dev.livemig.linux.UnixSocket;
import dev.livemig.linux.Userfaultfd;
import dev.livemig.machine.DirtyBitmap;
import dev.livemig.machine.RamBlock;
import dev.livemig.ram.RamBlockList;
import dev.livemig.ram.RamRecord;
import dev.livemig.ram.RamRecords;
import dev.livemig.transport.HandshakeGate;
import dev.livemig.transport.IncomingListener;
import dev.livemig.transport.MigrationChannel;
import dev.livemig.transport.MigrationUri;
import dev.livemig.transport.Transports;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import dev.livemig.wire.format.MigrationCommand;
import dev.livemig.wire.format.MigrationCommands;
import dev.livemig.wire.format.ReturnPathCodec;
import dev.livemig.wire.format.ReturnPathMessage;
import dev.livemig.wire.format.StreamFraming;
import dev.livemig.wire.format.StreamRecord;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The destination's postcopy page server, a process of its own (docs/architecture.md, "Postcopy"): from
 * POSTCOPY_LISTEN on it reads the main channel (RAM sections, PINGs, EOF) and places each page in the guest's
 * address space through the guest's userfaultfd, reads the guest's faults and asks the source for missing pages
 * on the return path, of which it is the only writer. Living outside the guest's JVM, it is never held up by
 * that JVM's safepoints, which a guest thread waiting for a page would stall.
 *
 * <p>Started by {@link PageServerProcess} with the path of the control socket as its argument. It ends after the
 * guest's final word (SHUT) or when the control socket closes. At EOF every page the guest still lacked must
 * have arrived; a missing one fails the migration, and it and every page still missing after a failure are
 * poisoned, so a guest thread waiting for one wakes with an error instead of waiting forever.
 */
public final class PageServer {
    private static final int PAGE = RamBlock.TARGET_PAGE_SIZE;
    /** The end marker of a received bitmap on the return path (§11.4). */
    private static final long RECV_BITMAP_END = 0x0123456789abcdefL;
    /** How long pages sent on the preempt channel before the main stream's EOF may take to arrive after it. */
    private static final long PREEMPT_DRAIN_NANOS = 10_000_000_000L;
    /** Fault latencies kept for the percentiles (the histogram counts every one). */
    private static final int MAX_LATENCIES = 1 << 20;
    /**
     * The receive queue of a postcopy main stream: its bytes are pages in flight, which the source will not send
     * again when a guest thread faults on one of them, so that thread waits until the queue ahead of the page is
     * placed. TCP's autotuning lets it grow to tens of MiB on loopback (net.ipv4.tcp_rmem), milliseconds of
     * placing on a busy host; a fixed buffer keeps it at a few hundred KiB (the kernel doubles what is set).
     */
    static final int MAIN_RECEIVE_BUFFER = 128 << 10;
    /** Read ahead of placing on the main stream: pages in flight too (32 KiB: p99 0.4–0.7 ms against 0.7–1.3 with 256). */
    private static final int READ_AHEAD = 32 << 10;

    private final UnixSocket control;
    private final Userfaultfd uffd;
    private volatile ByteChannel stream; // the main channel: replaced by recovery
    private final int ramSectionId;
    private final List<ControlMessage.Block> blocks;
    private final Map<String, Integer> byName = new HashMap<>();
    private final DirtyBitmap[] missing;
    private final DirtyBitmap[] requested;
    private final Object returnPathLock = new Object();
    private StreamWriter returnPath; // guarded by returnPathLock: on the main channel, replaced with it
    /** Main channels that recovery brings, accepted here (the guest JVM may be stopped behind a waiting thread). */
    private final java.util.concurrent.BlockingQueue<Recovered> recovered = new java.util.concurrent.LinkedBlockingQueue<>();
    private final String recoverAddress; // where a cut link is awaited by itself: the incoming address; "" none
    private final boolean preemptExpected;
    private final List<IncomingListener> recoveryListeners = new java.util.concurrent.CopyOnWriteArrayList<>();
    private volatile boolean guestGone;
    private boolean recovering; // the stream thread's: a recovered channel, before POSTCOPY_RESUME
    /**
     * Per faulting page (block << 40 | page): which threads wait, since when ({thread, nanoTime}), the first one
     * first. Guarded by itself, as are the blocktime figures below.
     */
    private final Map<Long, List<long[]>> waiting = new HashMap<>();
    private final Map<Long, Long> threadBlocktime = new LinkedHashMap<>();
    private int blockedThreads;
    private long blockedSince;
    private long blocktimeNanos;
    private long[] latencies = new long[4096]; // grows to MAX_LATENCIES: a young collection copies it
    private int latencyCount;
    private final long[] latencyHistogram = new long[FaultFigures.BUCKETS];
    private long pagesPlaced;         // guarded by waiting
    private long pagesOnPreempt;      // guarded by waiting
    private long missingCount;        // guarded by waiting: pages the guest still lacks
    private boolean preemptReading;   // guarded by waiting: a preempt channel is attached and being read
    private String preemptEnd;        // guarded by waiting: how the preempt channel ended, when it did
    private volatile long faults;
    private volatile long requests;
    private volatile boolean serving = true;
    private int lastRequestedBlock = -1; // guarded by returnPathLock

    PageServer(UnixSocket control, Userfaultfd uffd, DescriptorChannel stream, ControlMessage.Setup setup) {
        this.control = control;
        this.uffd = uffd;
        this.stream = stream;
        this.ramSectionId = setup.ramSectionId();
        this.recoverAddress = setup.recoverAddress();
        this.preemptExpected = setup.preempt();
        this.blocks = setup.blocks();
        this.missing = new DirtyBitmap[blocks.size()];
        this.requested = new DirtyBitmap[blocks.size()];
        for (int i = 0; i < blocks.size(); i++) {
            ControlMessage.Block b = blocks.get(i);
            byName.put(b.name(), i);
            missing[i] = new DirtyBitmap(b.length() / PAGE);
            long[] words = setup.missing().get(i);
            for (long page = 0; page < missing[i].size(); page++) {
                if ((page >>> 6) < words.length && (words[(int) (page >>> 6)] & (1L << (page & 63))) != 0) {
                    missing[i].set(page);
                }
            }
            requested[i] = new DirtyBitmap(b.length() / PAGE);
            missingCount += missing[i].count();
        }
        this.returnPath = new StreamWriter(stream, 4096);
    }

    /** Connects to the guest's control socket at {@code args[0]} and serves until the guest says SHUT. */
    public static void main(String[] args) throws Exception {
        try (UnixSocket control = UnixSocket.connect(Path.of(args[0]))) {
            List<ReceivedDescriptor> fds;
            try {
                fds = control.receiveDescriptors(2);
            } catch (java.io.EOFException e) {
                return; // the guest ended before POSTCOPY_LISTEN (precopy finished, or the migration failed)
            }
            if (fds.size() != 2) {
                fds.forEach(ReceivedDescriptor::close);
                throw new IOException("expected the userfaultfd and the stream, got " + fds.size() + " descriptors");
            }
            var setup = (ControlMessage.Setup) ControlMessage.read(control);
            var leftover = (ControlMessage.Leftover) ControlMessage.read(control);
            try (Userfaultfd uffd = Userfaultfd.adopt(fds.get(0), setup.uffdFeatures());
                 DescriptorChannel main = DescriptorChannel.adopt(fds.get(1), "migration stream")) {
                new PageServer(control, uffd, main, setup).serve(leftover.bytes());
            }
        }
    }

    void serve(byte[] leftover) throws IOException, MigrationException {
        Thread faultThread = Thread.ofPlatform().name("livemig-pagefault").daemon().start(this::serveFaults);
        // the guest's PONGs (PINGs of the package) come while the stream is read; its SHUT once we reported
        var guestSays = new java.util.concurrent.CompletableFuture<Void>();
        Thread controlThread = Thread.ofPlatform().name("livemig-pageserver-control").daemon().start(() -> {
            try {
                while (true) {
                    switch (ControlMessage.read(control)) {
                        case ControlMessage.Pong p -> sendIfLinked(new ReturnPathMessage.Pong(p.value()));
                        case ControlMessage.Preempt p -> attachPreempt(DescriptorChannel.adopt(
                                control.receiveDescriptors(1).getFirst(), "postcopy preempt channel"));
                        case ControlMessage.Recover r -> toGuest(listenForRecovery(r.uri()));
                        case ControlMessage.Shut s -> {
                            sendIfLinked(new ReturnPathMessage.Shut(s.status()));
                            guestSays.complete(null);
                            return;
                        }
                        default -> throw new IOException("unexpected control message from the guest");
                    }
                }
            } catch (IOException | RuntimeException e) {
                guestSays.completeExceptionally(e); // the guest went away: nothing is left to serve
                guestGone = true;
                cut(stream);
            }
        });
        ControlMessage outcome;
        try {
            readUntilEof(leftover);
            long left = awaitPreempt();
            if (left > 0) {
                String preempt;
                synchronized (waiting) {
                    preempt = preemptEnd == null ? "" : "; the preempt channel " + preemptEnd;
                }
                outcome = new ControlMessage.Failed(left + " pages of the guest never arrived before EOF (first: "
                        + firstMissing() + ")" + preempt);
            } else {
                outcome = figures(); // read under its lock: the preempt thread may still be placing
            }
        } catch (MigrationException | RuntimeException e) {
            outcome = new ControlMessage.Failed(e.getMessage() == null ? e.toString() : e.getMessage());
        }
        if (outcome instanceof ControlMessage.Failed f) {
            System.err.println("livemig page server: postcopy failed: " + f.message()); // beside the guest's report
            poisonMissing(); // a waiting guest thread wakes with an error rather than never
        }
        try {
            toGuest(outcome);
            guestSays.join();
        } catch (java.util.concurrent.CompletionException e) {
            // the guest ended first; its threads are its own to release
        } finally {
            serving = false;
            try {
                faultThread.join(1_000);
                controlThread.join(1_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * After the main stream's EOF: requested pages may still be on their way on the preempt channel, sent before
     * the EOF; waits until every page is there or that channel ended. Returns the pages still missing.
     */
    private long awaitPreempt() {
        long deadline = System.nanoTime() + PREEMPT_DRAIN_NANOS;
        synchronized (waiting) {
            while (missingCount > 0 && preemptReading) {
                if (System.nanoTime() > deadline) {
                    preemptEnd = "was still open without them " + PREEMPT_DRAIN_NANOS / 1_000_000_000L + " s after the main stream's EOF";
                    break;
                }
                try {
                    waiting.wait(100);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            return missingCount;
        }
    }

    /** postcopy-preempt: reads requested pages from {@code channel}, on a thread of its own. */
    private void attachPreempt(ByteChannel channel) {
        synchronized (waiting) {
            preemptReading = true;
        }
        Thread.ofPlatform().name("livemig-pageserver-preempt").daemon().start(() -> {
            String end;
            try (channel) {
                var in = new StreamReader(channel);
                in.section("postcopy preempt");
                try (Arena arena = Arena.ofConfined()) {
                    loadRam(in, true, new RamRecords(), arena.allocate(PAGE, PAGE), arena.allocate(PAGE, PAGE));
                }
                end = "ended with EOS"; // 7.2's form
            } catch (MigrationException | IOException | RuntimeException e) {
                end = "ended: " + (e.getMessage() == null ? e : e.getMessage()); // current form: closed by the source
            }
            synchronized (waiting) {
                preemptReading = false;
                preemptEnd = end;
                waiting.notifyAll();
            }
        });
    }

    /**
     * The main stream to its EOF, across cuts: when the link fails (a read error, or the stream ends before EOF)
     * the guest hears PAUSED, every waiting thread keeps waiting, and the stream goes on from the next channel
     * recovery brings (format reference §12.6). A malformed stream fails at once.
     */
    private void readUntilEof(byte[] leftover) throws MigrationException, IOException {
        byte[] first = leftover;
        while (true) {
            try {
                readStream(first, stream);
                return;
            } catch (MigrationException e) {
                if (!linkLost(e)) {
                    throw e;
                }
                cut(stream);
                System.err.println("livemig page server: postcopy paused: " + e.getMessage());
                recoveryListeners.forEach(IncomingListener::close); // a recovery that broke may still hold one
                recoveryListeners.clear();
                toGuest(new ControlMessage.Paused(e.getMessage())); // migrate-recover may come from here on
                if (!recoverAddress.isEmpty()) {
                    listenForRecovery(recoverAddress); // the source may resume there without a migrate-recover
                }
                MigrationChannel next = awaitRecovered();
                synchronized (returnPathLock) {
                    stream = next;
                    returnPath = new StreamWriter(next, 4096);
                }
                toGuest(new ControlMessage.Recovering());
                recovering = true;
                first = new byte[0];
            }
        }
    }

    /** A read that failed or hit the end of the channel: the link, not the stream's content. */
    private static boolean linkLost(MigrationException e) {
        return e.getCause() instanceof IOException || e.bareMessage().startsWith("truncated stream")
                || e.bareMessage().startsWith("unexpected end of stream");
    }

    /**
     * Fixes {@code socket}'s receive buffer at {@link #MAIN_RECEIVE_BUFFER} (TCP only: a unix stream socket's
     * queue is bounded by its sender). A socket that refuses keeps its own: a deeper queue, not a failure.
     */
    public static void shallowReceiveQueue(SocketChannel socket) {
        try {
            if (socket.getLocalAddress() instanceof InetSocketAddress) {
                socket.setOption(StandardSocketOptions.SO_RCVBUF, MAIN_RECEIVE_BUFFER);
            }
        } catch (IOException | RuntimeException e) {
            // tuning only: the stream works as it is
        }
    }

    /** A recovered main channel and the listener it came to (which takes the preempt channel next). */
    private record Recovered(MigrationChannel main, IncomingListener from) {
    }

    /**
     * Waits for a recovered main channel; fails when the guest gives up or goes away. The other listeners close
     * (one recovery at a time); the one it came to stays open for the preempt channel, if one is to follow.
     */
    private MigrationChannel awaitRecovered() throws MigrationException {
        while (true) {
            if (guestGone) {
                throw new MigrationException("postcopy paused, and the guest gave up before a recovery");
            }
            try {
                Recovered next = recovered.poll(100, java.util.concurrent.TimeUnit.MILLISECONDS);
                if (next != null) {
                    for (IncomingListener l : recoveryListeners) {
                        if (l != next.from() || !preemptExpected) {
                            l.close();
                            recoveryListeners.remove(l);
                        }
                    }
                    return next.main();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new MigrationException("interrupted while postcopy was paused");
            }
        }
    }

    /**
     * Listens on {@code address} for a source that resumes (migrate resume=true): the first connection is the
     * new main channel (no header; silent gate: it writes at once, but nothing of it may be lost), the next one,
     * with postcopy-preempt, the new preempt channel. Accepted here, not in the guest JVM: a guest thread waiting
     * for a page may hold that JVM at a safepoint until the page comes. Answers where it listens, or why not.
     */
    private ControlMessage.Listening listenForRecovery(String address) {
        IncomingListener l;
        try {
            l = Transports.listen(MigrationUri.parse(address), HandshakeGate.DEFAULT);
        } catch (MigrationException | RuntimeException e) {
            return new ControlMessage.Listening("", e.getMessage() == null ? e.toString() : e.getMessage());
        }
        recoveryListeners.add(l);
        Thread.ofPlatform().name("livemig-pageserver-recover").daemon().start(() -> {
            try (l) {
                MigrationChannel main = l.acceptSilent();
                main.socket().ifPresent(PageServer::shallowReceiveQueue);
                recovered.add(new Recovered(main, l));
                if (preemptExpected) {
                    attachPreempt(l.acceptSilent());
                }
            } catch (MigrationException | RuntimeException e) {
                // closed: another listener took the recovery, or the server ends
            }
        });
        return new ControlMessage.Listening(l.address().toString(), "");
    }

    /** One message to the guest: the stream thread and the control thread both speak. */
    private void toGuest(ControlMessage m) throws IOException {
        synchronized (control) {
            ControlMessage.write(control, m);
        }
    }

    /** Both directions of the link shut down, so that whoever reads or writes it sees the end. */
    private static void cut(ByteChannel channel) {
        if (channel instanceof DescriptorChannel d) {
            d.shutdown();
        } else if (channel instanceof MigrationChannel m) {
            MigrationChannel.cut(m);
        }
    }

    /** The stream from the package on (or from a recovery on): leftover bytes first, then the socket. */
    private void readStream(byte[] leftover, ByteChannel channel) throws MigrationException {
        var in = new StreamReader(new Prefixed(leftover, channel), READ_AHEAD);
        in.section(recovering ? "postcopy (recovered)" : "postcopy");
        var records = new RamRecords();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment staging = arena.allocate(PAGE, PAGE);
            MemorySegment filled = arena.allocate(PAGE, PAGE);
            while (true) {
                long at = in.offset();
                StreamRecord record = StreamFraming.readRecord(in);
                switch (record) {
                    case StreamRecord.Eof eof -> {
                        return;
                    }
                    case StreamRecord.Command c -> {
                        switch (MigrationCommands.decode(c, in, true)) {
                            case MigrationCommand.Ping ping -> send(new ReturnPathMessage.Pong(ping.value()));
                            case MigrationCommand.RecvBitmap r when recovering -> sendReceivedBitmap(in, at, r.block());
                            case MigrationCommand.PostcopyResume r when recovering -> resume();
                            case MigrationCommand other -> throw in.errorAt(at, "command after the postcopy package"
                                    + (recovering ? " (recovered)" : "") + ": " + other);
                        }
                    }
                    case StreamRecord.SectionContinue s -> {
                        if (s.sectionId() != ramSectionId) {
                            throw in.errorAt(at, "section " + s.sectionId() + " after the postcopy package: only RAM ("
                                    + ramSectionId + ") goes on");
                        }
                        in.section("ram");
                        loadRam(in, false, records, staging, filled);
                        StreamFraming.readFooter(in, s.sectionId());
                        in.section("postcopy");
                    }
                    case StreamRecord.SectionStart s -> throw in.errorAt(at, "section start after the postcopy package: "
                            + MigrationException.quote(s.idstr()));
                }
            }
        }
    }

    /**
     * RECV_BITMAP(block) of a recovery: the pages of the block that arrived (not missing), in QEMU's layout
     * (§11.4): the RP message, then be64 size, the bitmap as little-endian 64-bit words (page i = bit i % 64 of
     * word i / 64), and the end marker, written together.
     */
    private void sendReceivedBitmap(StreamReader in, long at, String name) throws MigrationException {
        Integer b = byName.get(name);
        if (b == null) {
            throw in.errorAt(at, "RECV_BITMAP of unknown RAM block " + MigrationException.quote(name));
        }
        long pages = missing[b].size();
        long words = (pages + 63) / 64;
        synchronized (returnPathLock) {
            ReturnPathCodec.write(returnPath, new ReturnPathMessage.RecvBitmap(name));
            returnPath.be64(words * 8);
            synchronized (waiting) { // a page placed meanwhile is then either in or out, not torn
                for (long w = 0; w < words; w++) {
                    long bits = 0;
                    for (int i = 0; i < 64 && w * 64 + i < pages; i++) {
                        if (!missing[b].get(w * 64 + i)) {
                            bits |= 1L << i;
                        }
                    }
                    returnPath.be64(Long.reverseBytes(bits)); // little-endian on the wire
                }
            }
            returnPath.be64(RECV_BITMAP_END);
            returnPath.flush();
        }
    }

    /**
     * POSTCOPY_RESUME: RESUME_ACK(1), the guest hears RESUMED, and every page a thread still waits for is asked
     * for again (the requests of the cut link may be lost), the first naming its block.
     */
    private void resume() throws MigrationException {
        recovering = false;
        send(new ReturnPathMessage.ResumeAck(ReturnPathMessage.ResumeAck.VALUE));
        try {
            toGuest(new ControlMessage.Resumed());
        } catch (IOException e) {
            throw new MigrationException("the guest went away during postcopy recovery: " + e.getMessage(), e);
        }
        List<Long> pages;
        synchronized (waiting) {
            pages = new ArrayList<>(waiting.keySet());
        }
        synchronized (returnPathLock) {
            lastRequestedBlock = -1;
            for (long key : pages) {
                int b = (int) (key >>> 40);
                long start = (key & ((1L << 40) - 1)) * PAGE;
                ReturnPathCodec.write(returnPath, b == lastRequestedBlock ? new ReturnPathMessage.ReqPages(start, PAGE)
                        : new ReturnPathMessage.ReqPagesId(start, PAGE, blocks.get(b).name()));
                lastRequestedBlock = b;
            }
            returnPath.flush();
        }
    }

    /** RAM records until EOS, on the main stream or ({@code onPreempt}) the postcopy-preempt channel. */
    private void loadRam(StreamReader in, boolean onPreempt, RamRecords records, MemorySegment staging, MemorySegment filled)
            throws MigrationException {
        while (true) {
            RamRecord r = records.next(in, RamBlockList.Admission.ANY, RamBlockList.EntryReader.NONE);
            switch (r) {
                case RamRecord.End end -> {
                    return;
                }
                case RamRecord.MultifdFlush flush -> {
                    // no multifd after the switch: nothing to sync
                }
                case RamRecord.Zero z -> {
                    int b = block(in, r.at(), z.block(), z.offset());
                    if (z.fill() == 0) {
                        place(onPreempt, b, z.offset(), null);
                    } else {
                        filled.fill((byte) z.fill());
                        place(onPreempt, b, z.offset(), filled);
                    }
                }
                case RamRecord.Page p -> {
                    int b = block(in, r.at(), p.block(), p.offset());
                    in.readFully(staging);
                    place(onPreempt, b, p.offset(), staging);
                }
                default -> throw in.errorAt(r.at(), "a " + r.kind() + " record after the switch to postcopy");
            }
        }
    }

    private int block(StreamReader in, long at, String name, long offset) throws MigrationException {
        Integer b = byName.get(name);
        if (b == null) {
            throw in.errorAt(at, "page of unknown RAM block " + MigrationException.quote(name));
        }
        if (offset < 0 || offset >= blocks.get(b).length()) {
            throw in.errorAt(at, String.format("page beyond block %s: offset 0x%x, length 0x%x", name, offset, blocks.get(b).length()));
        }
        return b;
    }

    /** Places one page atomically (null: zeros) and wakes whoever waits for it. */
    private void place(boolean onPreempt, int b, long offset, MemorySegment data) {
        long address = blocks.get(b).address() + offset;
        // false: already there (the other channel placed it first, with preempt)
        boolean placed = data == null ? uffd.zeroPage(address, PAGE) : uffd.copy(address, data);
        long page = offset / PAGE;
        synchronized (waiting) { // every page: a waiter may have come in since the copy (it is awake already)
            if (placed) {
                pagesPlaced++;
                if (onPreempt) {
                    pagesOnPreempt++;
                }
            }
            if (missing[b].testAndClear(page) && --missingCount == 0) {
                waiting.notifyAll();
            }
            List<long[]> waiters = waiting.isEmpty() ? null : waiting.remove(key(b, page));
            if (waiters != null) {
                long now = System.nanoTime();
                recordLatency(now - waiters.getFirst()[1]);
                for (long[] w : waiters) {
                    threadBlocktime.merge(w[0], now - w[1], Long::sum);
                }
                blockedThreads -= waiters.size();
                if (blockedThreads == 0) {
                    blocktimeNanos += now - blockedSince;
                }
            }
        }
    }

    /** The pages placed and the fault figures so far. */
    private ControlMessage.Done figures() {
        synchronized (waiting) {
            var threads = new ArrayList<FaultFigures.ThreadBlocktime>();
            threadBlocktime.forEach((tid, nanos) -> threads.add(new FaultFigures.ThreadBlocktime(tid, nanos)));
            long blocked = blocktimeNanos + (blockedThreads > 0 ? System.nanoTime() - blockedSince : 0);
            return new ControlMessage.Done(pagesPlaced, pagesOnPreempt, new FaultFigures(faults, requests, percentile(50), percentile(99),
                    blocked, threads, latencyHistogram));
        }
    }

    /** The fault thread: each missing page a guest thread touches is asked for once, on the return path. */
    private void serveFaults() {
        try {
            while (serving) {
                Userfaultfd.PageFault f = uffd.readFault(100);
                if (f == null) {
                    continue;
                }
                faults++;
                long now = System.nanoTime();
                int b = blockOf(f.address());
                if (b < 0) {
                    continue;
                }
                long offset = f.address() - blocks.get(b).address();
                long page = offset / PAGE;
                boolean waits;
                synchronized (waiting) { // against place(): a waiter added here is either removed there or woken below
                    waits = missing[b].get(page);
                    if (waits) {
                        waiting.computeIfAbsent(key(b, page), k -> new ArrayList<>()).add(new long[]{f.threadId(), now});
                        threadBlocktime.putIfAbsent((long) f.threadId(), 0L);
                        if (blockedThreads++ == 0) {
                            blockedSince = now;
                        }
                    }
                }
                if (!waits) {
                    // received before the switch as a zero page never written (nothing to ask for), or placed
                    // meanwhile (then the zero page is refused, and the waiter only needs waking)
                    long address = blocks.get(b).address() + page * PAGE;
                    if (!uffd.zeroPage(address, PAGE)) {
                        uffd.wake(address, PAGE);
                    }
                    continue;
                }
                if (!requested[b].get(page)) {
                    requested[b].set(page);
                    requests++;
                    request(b, page * PAGE);
                }
                if (!missing[b].get(page)) {
                    uffd.wake(blocks.get(b).address() + page * PAGE, PAGE); // placed while we asked
                }
            }
        } catch (RuntimeException e) {
            // the stream thread reports the failure; a fault thread has nothing to add (a cut return path does not
            // end it: recovery asks for the waiting pages again)
        }
    }

    private int blockOf(long address) {
        for (int i = 0; i < blocks.size(); i++) {
            ControlMessage.Block b = blocks.get(i);
            if (address >= b.address() && address - b.address() < b.length()) {
                return i;
            }
        }
        return -1;
    }

    /**
     * Asks for one page. A return path that fails (a cut link) leaves it waiting: recovery asks for every waiting
     * page again, so the fault thread goes on.
     */
    private void request(int b, long start) {
        synchronized (returnPathLock) {
            try {
                ReturnPathCodec.write(returnPath, b == lastRequestedBlock ? new ReturnPathMessage.ReqPages(start, PAGE)
                        : new ReturnPathMessage.ReqPagesId(start, PAGE, blocks.get(b).name()));
                returnPath.flush();
                lastRequestedBlock = b;
            } catch (MigrationException e) {
                lastRequestedBlock = -1; // the next channel's first request names its block
            }
        }
    }

    /** For the guest's word: on a cut link it is lost with the link (the source learns of the cut its own way). */
    private void sendIfLinked(ReturnPathMessage m) {
        try {
            send(m);
        } catch (MigrationException e) {
            // the link is cut: the stream thread pauses for recovery
        }
    }

    private void send(ReturnPathMessage m) throws MigrationException {
        synchronized (returnPathLock) {
            ReturnPathCodec.write(returnPath, m);
            returnPath.flush();
        }
    }

    private void poisonMissing() {
        if ((uffd.features() & Userfaultfd.FEATURE_POISON) == 0) {
            return; // without POISON (before 6.6) the guest's waiters are released when the descriptor closes
        }
        for (int b = 0; b < blocks.size(); b++) {
            for (long page = missing[b].nextSet(0); page >= 0; page = missing[b].nextSet(page + 1)) {
                try {
                    uffd.poison(blocks.get(b).address() + page * PAGE, PAGE);
                } catch (RuntimeException e) {
                    // populated meanwhile (EEXIST): it is there after all
                }
            }
        }
    }

    private String firstMissing() {
        for (int b = 0; b < blocks.size(); b++) {
            long page = missing[b].nextSet(0);
            if (page >= 0) {
                return blocks.get(b).name() + " offset 0x" + Long.toHexString(page * PAGE);
            }
        }
        return "none";
    }

    private void recordLatency(long nanos) {
        latencyHistogram[FaultFigures.bucket(nanos)]++;
        if (latencyCount == latencies.length && latencyCount < MAX_LATENCIES) {
            latencies = Arrays.copyOf(latencies, latencyCount * 2);
        }
        if (latencyCount < latencies.length) {
            latencies[latencyCount++] = nanos;
        }
    }

    private long percentile(int p) {
        if (latencyCount == 0) {
            return 0;
        }
        long[] sorted = Arrays.copyOf(latencies, latencyCount);
        Arrays.sort(sorted);
        return sorted[Math.min(latencyCount - 1, (int) Math.ceil(latencyCount * p / 100.0) - 1)];
    }

    private static long key(int block, long page) {
        return ((long) block << 40) | page;
    }

    /** The bytes the guest had already read past the package, then the socket. */
    private static final class Prefixed implements ReadableByteChannel {
        private final ByteBuffer first;
        private final ReadableByteChannel rest;

        Prefixed(byte[] first, ReadableByteChannel rest) {
            this.first = ByteBuffer.wrap(first);
            this.rest = rest;
        }

        @Override
        public int read(ByteBuffer dst) throws IOException {
            if (first.hasRemaining()) {
                int n = Math.min(first.remaining(), dst.remaining());
                dst.put(dst.position(), first, first.position(), n);
                dst.position(dst.position() + n);
                first.position(first.position() + n);
                return n;
            }
            return rest.read(dst);
        }

        @Override
        public boolean isOpen() {
            return rest.isOpen();
        }

        @Override
        public void close() throws IOException {
            rest.close();
        }
    }
}
