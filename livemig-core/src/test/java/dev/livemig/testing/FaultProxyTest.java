package dev.livemig.testing;

import dev.livemig.testing.FaultProxy.Direction;
import dev.livemig.testing.FaultProxy.Fault;
import dev.livemig.testing.FaultProxy.Kind;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

class FaultProxyTest {
    private static final byte[] DATA = new byte[200_000];

    static {
        new Random(42).nextBytes(DATA);
    }

    private final List<AutoCloseable> cleanup = new CopyOnWriteArrayList<>();

    @AfterEach
    void release() throws Exception {
        for (AutoCloseable c : cleanup.reversed()) {
            c.close();
        }
    }

    /**
     * A destination that takes connections in order; for each, a future of every byte it received until the
     * end of the stream (or a reset), and it answers {@code reply} as soon as a connection is accepted.
     */
    private final class Sink implements AutoCloseable {
        final ServerSocketChannel server = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
        final List<CompletableFuture<byte[]>> received = new CopyOnWriteArrayList<>();
        final List<SocketChannel> accepted = new CopyOnWriteArrayList<>();

        Sink(byte[] reply) throws IOException {
            cleanup.add(this);
            Thread.ofPlatform().daemon().start(() -> {
                try {
                    while (true) {
                        SocketChannel s = server.accept();
                        accepted.add(s);
                        var done = new CompletableFuture<byte[]>();
                        received.add(done);
                        Thread.ofPlatform().daemon().start(() -> done.complete(readAll(s, reply)));
                    }
                } catch (IOException e) {
                    // closed
                }
            });
        }

        byte[] awaitReceived(int connection) throws Exception {
            Await.until("connection " + connection + " at the sink", () -> received.size() > connection);
            return received.get(connection).get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS);
        }

        InetSocketAddress address() throws IOException {
            return (InetSocketAddress) server.getLocalAddress();
        }

        @Override
        public void close() throws IOException {
            server.close();
            for (SocketChannel s : accepted) {
                s.close();
            }
        }
    }

    private static byte[] readAll(SocketChannel s, byte[] reply) {
        var got = new ByteArrayOutputStream();
        try {
            s.write(ByteBuffer.wrap(reply));
            ByteBuffer buf = ByteBuffer.allocate(8192);
            while (s.read(buf.clear()) >= 0) {
                got.write(buf.array(), 0, buf.position());
            }
        } catch (IOException e) {
            // a reset ends the stream too: what came before it counts
        }
        return got.toByteArray();
    }

    private FaultProxy proxy(Sink sink, Fault fault) throws IOException {
        var p = fault == null ? FaultProxy.clean(sink.address()) : FaultProxy.start(sink.address(), fault);
        cleanup.add(p);
        return p;
    }

    private SocketChannel connect(FaultProxy proxy) throws IOException {
        SocketChannel c = SocketChannel.open(proxy.address());
        cleanup.add(c);
        return c;
    }

    /** Writes {@code data} on another thread (it may block on a stalled link or fail on a cut one). */
    private static CompletableFuture<Void> sendAsync(SocketChannel c, byte[] data, boolean thenShutdown) {
        return CompletableFuture.runAsync(() -> {
            try {
                ByteBuffer b = ByteBuffer.wrap(data);
                while (b.hasRemaining()) {
                    c.write(b);
                }
                if (thenShutdown) {
                    c.shutdownOutput();
                }
            } catch (IOException e) {
                // the proxy broke the connection: expected for cuts
            }
        }, r -> Thread.ofPlatform().daemon().start(r));
    }

    private static byte[] readUpTo(SocketChannel c, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        while (b.hasRemaining() && c.read(b) >= 0) {
            // keep reading
        }
        return Arrays.copyOf(b.array(), b.position());
    }

    @Test
    void aCleanProxyForwardsBothDirectionsUnchangedAndCountsThem() throws Exception {
        byte[] reply = {1, 2, 3, 4, 5};
        var sink = new Sink(reply);
        var proxy = proxy(sink, null);
        var c = connect(proxy);
        sendAsync(c, DATA, true);
        assertArrayEquals(DATA, sink.awaitReceived(0));
        assertArrayEquals(reply, readUpTo(c, reply.length));
        assertEquals(DATA.length, proxy.forwarded(0, Direction.TO_DESTINATION));
        Await.until("the reply counted", () -> proxy.forwarded(0, Direction.TO_SOURCE) == reply.length);
        assertEquals(1, proxy.connections());
        assertFalse(proxy.applied());
        assertArrayEquals(DATA, proxy.copy(0, Direction.TO_DESTINATION), "a clean proxy keeps a copy");
    }

    @Test
    void aCutPassesExactlyTheBytesBeforeItsOffsetThenClosesBothSides() throws Exception {
        var sink = new Sink(new byte[0]);
        var proxy = proxy(sink, new Fault(Kind.CUT, 0, Direction.TO_DESTINATION, 1234));
        var c = connect(proxy);
        sendAsync(c, DATA, false);
        assertArrayEquals(Arrays.copyOf(DATA, 1234), sink.awaitReceived(0), "the destination sees the end after byte 1234");
        ByteBuffer one = ByteBuffer.allocate(1);
        assertThrows(IOException.class, () -> {
            if (c.read(one) < 0) {
                throw new IOException("end of stream"); // a FIN or a reset: the source's side is closed too
            }
        });
        assertTrue(proxy.applied());
    }

    @Test
    void aCutAtOffsetZeroClosesTheConnectionBeforeAnyByte() throws Exception {
        var sink = new Sink(new byte[0]);
        var proxy = proxy(sink, new Fault(Kind.CUT, 0, Direction.TO_DESTINATION, 0));
        var c = connect(proxy);
        sendAsync(c, DATA, false);
        assertEquals(0, sink.awaitReceived(0).length);
        Await.until("the fault applied", proxy::applied);
    }

    @Test
    void aCorruptionFlipsEveryBitOfOneByteAndNothingElse() throws Exception {
        var sink = new Sink(new byte[0]);
        var proxy = proxy(sink, new Fault(Kind.CORRUPT, 0, Direction.TO_DESTINATION, 100_001));
        var c = connect(proxy);
        sendAsync(c, DATA, true);
        byte[] got = sink.awaitReceived(0);
        byte[] expected = DATA.clone();
        expected[100_001] = (byte) ~expected[100_001];
        assertArrayEquals(expected, got);
        assertTrue(proxy.applied());
    }

    @Test
    void aStallPassesTheBytesBeforeItsOffsetHoldsTheRestAndKeepsTheOtherDirectionOpen() throws Exception {
        byte[] reply = {9, 8, 7};
        var sink = new Sink(reply);
        var proxy = proxy(sink, new Fault(Kind.STALL, 0, Direction.TO_DESTINATION, 5000));
        var c = connect(proxy);
        sendAsync(c, Arrays.copyOf(DATA, 20_000), true); // small enough for the socket buffers: the writer is not blocked
        Await.until("the stall", proxy::applied);
        assertArrayEquals(reply, readUpTo(c, reply.length), "the other direction still delivers");
        assertEquals(5000, proxy.forwarded(0, Direction.TO_DESTINATION));
        assertFalse(sink.received.getFirst().isDone(), "the destination's socket stays open while stalled");
        proxy.close(); // the link finally breaks
        assertArrayEquals(Arrays.copyOf(DATA, 5000), sink.awaitReceived(0), "not one byte past the offset went through");
    }

    @Test
    void aFaultHitsOnlyItsConnectionAndDirection() throws Exception {
        byte[] reply = {1, 2, 3};
        var sink = new Sink(reply);
        var proxy = proxy(sink, new Fault(Kind.CORRUPT, 1, Direction.TO_SOURCE, 1));
        var first = connect(proxy);
        Await.until("the first connection accepted", () -> proxy.connections() == 1);
        var second = connect(proxy);
        sendAsync(first, DATA, true);
        sendAsync(second, DATA, true);
        assertArrayEquals(DATA, sink.awaitReceived(0));
        assertArrayEquals(DATA, sink.awaitReceived(1));
        assertArrayEquals(reply, readUpTo(first, 3), "connection 0 is untouched");
        assertArrayEquals(new byte[] {1, ~2, 3}, readUpTo(second, 3), "connection 1's answer has its byte 1 flipped");
    }

    @Test
    void aFaultArmedLaterCountsFromTheStartOfTheDirectionAndATooLateOneIsRefused() throws Exception {
        var sink = new Sink(new byte[0]);
        var proxy = proxy(sink, null);
        var c = connect(proxy);
        sendAsync(c, Arrays.copyOf(DATA, 1000), false).get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS);
        Await.until("the first 1000 bytes through", () -> proxy.quiet(0, Direction.TO_DESTINATION, 1000),
                () -> proxy.forwarded(0, Direction.TO_DESTINATION));
        assertThrows(IllegalStateException.class, () -> proxy.arm(new Fault(Kind.CUT, 0, Direction.TO_DESTINATION, 999)));
        proxy.arm(new Fault(Kind.CUT, 0, Direction.TO_DESTINATION, 1500));
        assertThrows(IllegalStateException.class, () -> proxy.arm(new Fault(Kind.CUT, 0, Direction.TO_DESTINATION, 2000)),
                "one fault per proxy");
        sendAsync(c, Arrays.copyOfRange(DATA, 1000, 3000), false);
        assertArrayEquals(Arrays.copyOf(DATA, 1500), sink.awaitReceived(0));
        assertArrayEquals(Arrays.copyOf(DATA, 1500), proxy.copy(0, Direction.TO_DESTINATION), "the copy holds what passed");
    }
}
