package dev.livemig.postcopy;

import dev.livemig.host.HostAssumptions;
import dev.livemig.linux.Mmap;
import dev.livemig.linux.Userfaultfd;
import dev.livemig.machine.DirtyBitmap;
import dev.livemig.machine.RamBlock;
import dev.livemig.ram.RamFlags;
import dev.livemig.transport.MigrationUri;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import dev.livemig.wire.format.MigrationCommand;
import dev.livemig.wire.format.MigrationCommands;
import dev.livemig.wire.format.ReturnPathCodec;
import dev.livemig.wire.format.ReturnPathMessage;
import dev.livemig.wire.format.StreamFraming;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.LongStream;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The postcopy page server in its own process, fed by this test as the source would feed it: the rest of RAM on
 * the main channel, page requests answered. A guest thread waiting for a page reads it with a native memcpy: this
 * JVM is the source too, and a read from Java code would let a safepoint wait for a page only this JVM can send
 * (docs/architecture.md, "Postcopy"; {@code CrossProcessFaultServingTest} covers reads from Java code).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class PageServerTest {
    private static final int PAGE = RamBlock.TARGET_PAGE_SIZE;
    private static final int PAGES = 64;
    private static final int RAM_SECTION = 2;
    private static final java.lang.invoke.MethodHandle MEMCPY = java.lang.foreign.Linker.nativeLinker().downcallHandle(
            java.lang.foreign.Linker.nativeLinker().defaultLookup().find("memcpy").orElseThrow(),
            java.lang.foreign.FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));

    @TempDir
    Path dir;

    @BeforeEach
    void needsMissingPageFaults() {
        HostAssumptions.assumeUserfaultfdMissing();
    }

    private static long pattern(long page) {
        return 0x7061_6765_0000_0000L | page;
    }

    /** The source's end of the main channel. */
    private record Source(SocketChannel socket) {
        void send(Writes w) throws Exception {
            StreamWriter out = StreamWriter.inMemory();
            w.to(out);
            ByteBuffer b = ByteBuffer.wrap(out.toByteArray());
            while (b.hasRemaining()) {
                socket.write(b);
            }
        }

        private void readFully(byte[] into) throws Exception {
            ByteBuffer b = ByteBuffer.wrap(into);
            while (b.hasRemaining()) {
                if (socket.read(b) < 0) {
                    throw new java.io.EOFException("the page server closed the stream");
                }
            }
        }

        /** A PART (or END) section of the "ram" block carrying {@code pages}; {@code zeros} go as ZERO records. */
        void ram(boolean end, long[] pages, long... zeros) throws Exception {
            send(w -> {
                StreamFraming.writeSectionContinue(w, end, RAM_SECTION);
                boolean named = false;
                for (long p : pages) {
                    boolean zero = LongStream.of(zeros).anyMatch(z -> z == p);
                    w.be64(p * PAGE | (zero ? RamFlags.ZERO : RamFlags.PAGE) | (named ? RamFlags.CONTINUE : 0));
                    if (!named) {
                        w.str8("ram");
                        named = true;
                    }
                    if (zero) {
                        w.u8(0);
                    } else {
                        for (int off = 0; off < PAGE; off += 8) {
                            w.be64(Long.reverseBytes(pattern(p))); // little-endian in guest memory
                        }
                    }
                }
                w.be64(RamFlags.EOS);
                StreamFraming.writeFooter(w, RAM_SECTION);
            });
        }

        /** RP RECV_BITMAP's out-of-band part (§11.4): size, little-endian words, end marker. */
        byte[] receivedBitmap() throws Exception {
            byte[] size = new byte[8];
            readFully(size);
            byte[] bits = new byte[(int) ByteBuffer.wrap(size).getLong()];
            readFully(bits);
            byte[] end = new byte[8];
            readFully(end);
            assertEquals(0x0123456789abcdefL, ByteBuffer.wrap(end).getLong(), "end marker");
            return bits;
        }

        ReturnPathMessage returnPath() throws Exception {
            byte[] head = new byte[4];
            readFully(head);
            byte[] payload = new byte[((head[2] & 0xff) << 8) | (head[3] & 0xff)];
            readFully(payload);
            byte[] all = new byte[4 + payload.length];
            System.arraycopy(head, 0, all, 0, 4);
            System.arraycopy(payload, 0, all, 4, payload.length);
            return ReturnPathCodec.read(StreamReader.of(all));
        }
    }

    interface Writes {
        void to(StreamWriter w) throws Exception;
    }

    /** Guest memory registered for missing pages, the page server started and given it and the stream. */
    private final class Served implements AutoCloseable {
        final Arena arena = Arena.ofShared();
        final Userfaultfd uffd = Userfaultfd.openMissing();
        final MemorySegment guest = Mmap.anonymous(arena, (long) PAGES * PAGE);
        final PageServerProcess server;
        final Source source;

        /** {@code unix}: the main channel is a Unix-domain socket, else tcp over loopback (both Java's channels). */
        Served(DirtyBitmap missing, byte[] leftover, boolean unix) throws Exception {
            uffd.registerMissing(guest);
            for (long p = 0; p < PAGES; p++) {
                if (!missing.get(p)) {
                    uffd.zeroPage(guest.address() + p * PAGE, PAGE); // arrived as zero before the switch
                }
            }
            SocketAddress at = unix ? UnixDomainSocketAddress.of(dir.resolve("main.sock"))
                    : new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
            try (ServerSocketChannel listener = ServerSocketChannel.open(unix ? StandardProtocolFamily.UNIX : StandardProtocolFamily.INET)) {
                listener.bind(at);
                source = new Source(SocketChannel.open(listener.getLocalAddress()));
                try (SocketChannel destination = listener.accept()) {
                    server = PageServerProcess.start();
                    server.handOver(uffd, destination, leftover, RAM_SECTION,
                            List.of(new RamBlock("ram", guest, PAGE)), List.of(missing), new PageServerProcess.Recoverable("", false));
                } // the server holds its own descriptor of the destination's end
            }
        }

        /** The second long of {@code page}, read by a native memcpy on a thread of its own. */
        CompletableFuture<Long> readNatively(long page) {
            MemorySegment into = arena.allocate(8, 8);
            return CompletableFuture.supplyAsync(() -> {
                try {
                    MemorySegment ignored = (MemorySegment) MEMCPY.invokeExact(into, guest.asSlice(page * PAGE + 8, 8), 8L);
                } catch (Throwable t) {
                    throw new IllegalStateException(t);
                }
                return into.get(ValueLayout.JAVA_LONG, 0);
            }, r -> Thread.ofPlatform().daemon().start(r));
        }

        @Override
        public void close() {
            server.close();
            try {
                source.socket().close();
            } catch (java.io.IOException ignored) {
                // closing the test's end
            }
            uffd.close();
            arena.close();
        }
    }

    private static DirtyBitmap missing(long from, long to) {
        var bits = new DirtyBitmap(PAGES);
        bits.setRange(from, to);
        return bits;
    }

    private static byte[] ping(int value) throws Exception {
        StreamWriter w = StreamWriter.inMemory();
        MigrationCommands.write(w, new MigrationCommand.Ping(value));
        return w.toByteArray();
    }

    @Test
    void blocktimeCountsEachThreadsWaitAndTheTimeAnyThreadWaited() throws Exception {
        try (Served s = new Served(missing(1, PAGES), new byte[0], false)) {
            CompletableFuture<Long> first = s.readNatively(40);
            assertEquals(new ReturnPathMessage.ReqPagesId(40L * PAGE, PAGE, "ram"), s.source.returnPath());
            Thread.sleep(30);
            CompletableFuture<Long> second = s.readNatively(41);
            assertEquals(new ReturnPathMessage.ReqPages(41L * PAGE, PAGE), s.source.returnPath(), "same block: no name");
            Thread.sleep(30);
            s.source.ram(false, new long[]{40});
            assertEquals(pattern(40), first.get(30, TimeUnit.SECONDS));
            Thread.sleep(30);
            s.source.ram(false, new long[]{41});
            assertEquals(pattern(41), second.get(30, TimeUnit.SECONDS));

            s.source.ram(false, LongStream.range(1, PAGES).filter(p -> p != 40 && p != 41).toArray());
            s.source.ram(true, new long[0]);
            s.source.send(StreamFraming::writeEof);
            FaultFigures f = s.server.awaitOutcome().faults();
            assertEquals(2, f.requests());
            assertEquals(2, f.measuredPages(), java.util.Arrays.toString(f.latencyHistogram()));
            assertEquals(2, f.threads().size(), "two guest threads waited: " + f.threads());
            long a = f.threads().get(0).nanos();
            long b = f.threads().get(1).nanos();
            assertTrue(a >= 60_000_000L && b >= 60_000_000L, "each waited through two 30 ms pauses: " + f.threads());
            assertTrue(f.blocktimeNanos() >= Math.max(a, b) && f.blocktimeNanos() < a + b,
                    "the overlapping waits count once in the total: " + f);
            s.server.shut(0);
        }
    }

    /**
     * A cut link (§12.6): the server pauses, the waiting reader keeps waiting; migrate-recover makes the server
     * listen; the source reconnects without a header, asks for the received bitmap, resumes, and gets the waiting
     * page asked for again; the rest follows on the new channel to EOF.
     */
    @Test
    void aCutLinkPausesUntilTheSourceReconnectsThenTheStreamGoesOnWithNothingLost() throws Exception {
        try (Served s = new Served(missing(1, PAGES), new byte[0], false)) {
            var events = new java.util.concurrent.LinkedBlockingQueue<String>();
            CompletableFuture<PageServerProcess.Outcome> outcome = CompletableFuture.supplyAsync(() -> {
                try {
                    return s.server.awaitOutcome(new PageServerProcess.Recovery() {
                        @Override
                        public void paused(String reason) {
                            events.add("paused");
                        }

                        @Override
                        public void recovering() {
                            events.add("recovering");
                        }

                        @Override
                        public void resumed() {
                            events.add("resumed");
                        }
                    });
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }, r -> Thread.ofPlatform().daemon().start(r));
            s.source.ram(false, LongStream.range(1, 20).toArray());
            CompletableFuture<Long> waiting = s.readNatively(40);
            assertEquals(new ReturnPathMessage.ReqPagesId(40L * PAGE, PAGE, "ram"), s.source.returnPath());
            s.source.socket().close(); // the link dies
            assertEquals("paused", events.poll(30, TimeUnit.SECONDS));
            assertFalse(waiting.isDone(), "the reader keeps waiting through the pause");

            MigrationUri at = MigrationUri.parse(s.server.recover("tcp:127.0.0.1:0"));
            var port = ((MigrationUri.Tcp) at).port();
            var resumed = new Source(SocketChannel.open(new InetSocketAddress(InetAddress.getLoopbackAddress(), port)));
            resumed.send(w -> MigrationCommands.write(w, new MigrationCommand.RecvBitmap("ram")));
            assertEquals(new ReturnPathMessage.RecvBitmap("ram"), resumed.returnPath());
            long received = ByteBuffer.wrap(resumed.receivedBitmap()).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
            assertEquals(0xFFFFF, received, "page 0 (zero before the switch) and pages 1 to 19 arrived, no other");
            assertEquals("recovering", events.poll(30, TimeUnit.SECONDS));
            resumed.send(w -> MigrationCommands.write(w, new MigrationCommand.PostcopyResume()));
            assertEquals(new ReturnPathMessage.ResumeAck(1), resumed.returnPath());
            assertEquals(new ReturnPathMessage.ReqPagesId(40L * PAGE, PAGE, "ram"), resumed.returnPath(),
                    "the page a thread still waits for, asked for again, naming its block");
            assertEquals("resumed", events.poll(30, TimeUnit.SECONDS));
            resumed.ram(false, new long[]{40});
            assertEquals(pattern(40), waiting.get(30, TimeUnit.SECONDS));
            resumed.ram(true, LongStream.range(20, PAGES).filter(p -> p != 40).toArray());
            resumed.send(StreamFraming::writeEof);
            PageServerProcess.Outcome done = outcome.get(30, TimeUnit.SECONDS);
            assertNull(done.failure(), done.toString());
            assertEquals(PAGES - 1, done.pagesPlaced());
            for (long p = 1; p < PAGES; p++) {
                assertEquals(pattern(p), s.guest.get(ValueLayout.JAVA_LONG, p * PAGE + PAGE - 8), "page " + p);
            }
            s.server.shut(0);
            assertEquals(new ReturnPathMessage.Shut(0), resumed.returnPath());
        }
    }

    @ParameterizedTest(name = "unix={0}")
    @ValueSource(booleans = {false, true})
    void aPageAGuestThreadWaitsForIsAskedForAndEveryMissingPageIsPlacedByEof(boolean unix) throws Exception {
        try (Served s = new Served(missing(1, PAGES), ping(4), unix)) {
            assertEquals(new ReturnPathMessage.Pong(4), s.source.returnPath(), "PING(4), read before the handover, answered");
            s.server.pong(3);
            assertEquals(new ReturnPathMessage.Pong(3), s.source.returnPath(), "the package's PING(3), through the server");

            CompletableFuture<Long> waiting = s.readNatively(40);
            assertEquals(new ReturnPathMessage.ReqPagesId(40L * PAGE, PAGE, "ram"), s.source.returnPath());
            assertFalse(waiting.isDone(), "the reader waits for its page");
            s.source.ram(false, new long[]{40});
            assertEquals(pattern(40), waiting.get(30, TimeUnit.SECONDS));

            long[] rest = LongStream.range(1, PAGES).filter(p -> p != 40).toArray();
            s.source.ram(false, rest, 7);
            s.source.ram(true, new long[0]);
            s.source.send(StreamFraming::writeEof);
            PageServerProcess.Outcome outcome = s.server.awaitOutcome();
            assertNull(outcome.failure(), outcome.toString());
            assertEquals(PAGES - 1, outcome.pagesPlaced());
            FaultFigures f = outcome.faults();
            assertEquals(1, f.requests());
            assertTrue(f.latencyP50Nanos() > 0 && f.latencyP99Nanos() >= f.latencyP50Nanos(), f.toString());
            assertEquals(1, f.measuredPages(), "one page waited for: one latency in the histogram");
            assertEquals(1, f.threads().size(), "one guest thread waited");
            assertEquals(f.blocktimeNanos(), f.threads().getFirst().nanos(), "one thread, one wait: the total is its wait");
            assertTrue(f.blocktimeNanos() >= f.latencyP50Nanos(), f.toString());
            s.server.shut(0);
            assertEquals(new ReturnPathMessage.Shut(0), s.source.returnPath());

            for (long p = 0; p < PAGES; p++) {
                long expected = p == 0 || p == 7 ? 0 : pattern(p);
                assertEquals(expected, s.guest.get(ValueLayout.JAVA_LONG, p * PAGE + PAGE - 8), "page " + p);
            }
        }
    }

    @Test
    void aPageThatNeverArrivesFailsTheStreamAndItsReaderGetsAnErrorNotAHang() throws Exception {
        assumeTrue((Userfaultfd.supportedFeatures() & Userfaultfd.FEATURE_POISON) != 0, "userfaultfd without POISON (Linux < 6.6)");
        try (Served s = new Served(missing(1, 4), new byte[0], false)) {
            s.source.ram(true, new long[]{1, 2});
            s.source.send(StreamFraming::writeEof);
            PageServerProcess.Outcome outcome = s.server.awaitOutcome();
            assertEquals("1 pages of the guest never arrived before EOF (first: ram offset 0x3000)", outcome.failure());
            var error = assertThrows(InternalError.class, () -> s.guest.get(ValueLayout.JAVA_LONG, 3L * PAGE));
            assertTrue(error.getMessage().contains("unsafe memory access"), error.getMessage());
            assertEquals(pattern(2), s.guest.get(ValueLayout.JAVA_LONG, 2L * PAGE));
            s.server.shut(1);
            assertEquals(new ReturnPathMessage.Shut(1), s.source.returnPath());
        }
    }

    @Test
    void aStreamThatIsNotPostcopyRamIsRefusedWithWhereAndWhat() throws Exception {
        try (Served s = new Served(missing(1, 2), new byte[0], true)) {
            s.source.send(w -> StreamFraming.writeSectionStart(w, true, 9, "timer", 0, 2));
            PageServerProcess.Outcome outcome = s.server.awaitOutcome();
            assertTrue(outcome.failure().startsWith("section start after the postcopy package: timer"), outcome.failure());
            assertTrue(outcome.failure().contains("offset=0x0"), outcome.failure());
            s.server.shut(1);
        }
    }

    /**
     * The pages in flight ahead of a fault are the main stream's receive queue: a tcp stream's is fixed small
     * (as Java reports it: what was set, at most net.core.rmem_max), a unix one's is left as it was.
     */
    @Test
    void theMainStreamsReceiveQueueIsKeptShallowOnTcp() throws Exception {
        // readAllLines: readString trusts the size procfs reports and may return a prefix
        long rmemMax = Long.parseLong(java.nio.file.Files.readAllLines(Path.of("/proc/sys/net/core/rmem_max")).getFirst().trim());
        try (ServerSocketChannel server = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
             SocketChannel client = SocketChannel.open(server.getLocalAddress());
             SocketChannel accepted = server.accept()) {
            accepted.setOption(java.net.StandardSocketOptions.SO_RCVBUF, 8 * PageServer.MAIN_RECEIVE_BUFFER); // as deep as autotuning leaves it
            PageServer.shallowReceiveQueue(accepted);
            assertEquals(Math.min(PageServer.MAIN_RECEIVE_BUFFER, rmemMax), (long) accepted.getOption(java.net.StandardSocketOptions.SO_RCVBUF));
        }
        Path path = dir.resolve("rcvbuf.sock");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX).bind(UnixDomainSocketAddress.of(path));
             SocketChannel client = SocketChannel.open(UnixDomainSocketAddress.of(path));
             SocketChannel accepted = server.accept()) {
            int before = accepted.getOption(java.net.StandardSocketOptions.SO_RCVBUF);
            PageServer.shallowReceiveQueue(accepted);
            assertEquals(before, accepted.getOption(java.net.StandardSocketOptions.SO_RCVBUF));
        }
    }
}
