package dev.livemig.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A TCP proxy between a migration source and its destination that breaks one channel at one byte: the
 * network failing under a migration, on purpose and at a chosen place.
 *
 * <p>It listens on 127.0.0.1 (port chosen by the kernel) and opens one connection to the destination for each
 * one it accepts, in the order accepted, so the destination sees the source's connect order: connection 0 is
 * the main channel, 1..n the multifd channels; the return path is connection 0's
 * {@link Direction#TO_SOURCE} direction. Each direction of each connection is copied by its own thread
 * (named fault-proxy-C-up / -down: they are no livemig threads) that counts the bytes it forwarded.
 *
 * <p>At most one {@link Fault} per proxy, given at the start or {@linkplain #arm armed} later (at a point the
 * test chose, such as the source waiting in pre-switchover), applied when its byte arrives:
 * <ul>
 * <li>{@link Kind#CUT}: exactly {@code offset} bytes pass; when byte {@code offset} arrives, both sockets of
 * the connection are closed instead;
 * <li>{@link Kind#CORRUPT}: byte {@code offset} (0-based) passes with every bit flipped, the rest unchanged;
 * <li>{@link Kind#STALL}: exactly {@code offset} bytes pass, then that direction is no longer read, while the
 * sockets stay open, as a link that stops delivering: the sender fills its buffers and blocks. The other
 * direction goes on. A stall lasts until {@link #close()}, which then breaks every connection.
 * </ul>
 * An end of stream in one direction is passed on as a half-close; a read or write error closes the connection.
 */
public final class FaultProxy implements AutoCloseable {
    public enum Kind { CUT, CORRUPT, STALL }

    /** TO_DESTINATION: what the source sends (the stream, multifd packets); TO_SOURCE: what comes back. */
    public enum Direction { TO_DESTINATION, TO_SOURCE }

    /** One fault: {@code kind} at byte {@code offset} of {@code direction} of connection {@code connection}. */
    public record Fault(Kind kind, int connection, Direction direction, long offset) {
        public Fault {
            if (connection < 0 || offset < 0) {
                throw new IllegalArgumentException("fault out of range: connection=" + connection + " offset=" + offset);
            }
        }

        @Override
        public String toString() {
            return kind.name().toLowerCase() + " connection=" + connection + " direction="
                    + direction.name().toLowerCase() + " offset=" + offset;
        }
    }

    private static final int CHUNK = 64 << 10;

    private final ServerSocketChannel server;
    private final InetSocketAddress destination;
    private volatile Fault fault; // null: none (yet)
    private final Thread acceptor;
    private final List<SocketChannel> sockets = new CopyOnWriteArrayList<>();
    private final List<Thread> pumps = new CopyOnWriteArrayList<>();
    private final ConcurrentHashMap<String, AtomicLong> forwarded = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, ByteArrayOutputStream> copies = new ConcurrentHashMap<>();
    private final CountDownLatch applied = new CountDownLatch(1);
    private final CountDownLatch closing = new CountDownLatch(1);
    private final AtomicLong accepted = new AtomicLong();

    private final ConcurrentHashMap<String, Boolean> reading = new ConcurrentHashMap<>();

    private FaultProxy(ServerSocketChannel server, InetSocketAddress destination, Fault fault) {
        this.server = server;
        this.destination = destination;
        this.fault = fault;
        this.acceptor = Thread.ofPlatform().name("fault-proxy-accept").daemon().start(this::acceptLoop);
    }

    /** A proxy to {@code destination} that applies {@code fault}. */
    public static FaultProxy start(InetSocketAddress destination, Fault fault) throws IOException {
        return open(destination, Objects.requireNonNull(fault, "fault"));
    }

    /**
     * A proxy to {@code destination} that only forwards and counts until a fault is {@linkplain #arm armed};
     * like every proxy it keeps a {@linkplain #copy copy} of what it forwarded (to find where the parts of a
     * clean run's channels lie).
     */
    public static FaultProxy clean(InetSocketAddress destination) throws IOException {
        return open(destination, null);
    }

    private static FaultProxy open(InetSocketAddress destination, Fault fault) throws IOException {
        ServerSocketChannel server = ServerSocketChannel.open();
        try {
            server.bind(new InetSocketAddress("127.0.0.1", 0));
        } catch (IOException e) {
            server.close();
            throw e;
        }
        return new FaultProxy(server, destination, fault);
    }

    /** Where the source should connect. */
    public InetSocketAddress address() {
        try {
            return (InetSocketAddress) server.getLocalAddress();
        } catch (IOException e) {
            throw new IllegalStateException("the proxy's listener is closed", e);
        }
    }

    /** {@link #address()} as a migration URI. */
    public String uri() {
        return "tcp:127.0.0.1:" + address().getPort();
    }

    /** Whether the fault has happened: its byte arrived (a cut or stall at an offset acts when the next byte comes). */
    public boolean applied() {
        return applied.getCount() == 0;
    }

    /** Connections accepted so far. */
    public long connections() {
        return accepted.get();
    }

    /** Bytes forwarded so far in {@code direction} of connection {@code connection} (0 for one never seen). */
    public long forwarded(int connection, Direction direction) {
        AtomicLong n = forwarded.get(key(connection, direction));
        return n == null ? 0 : n.get();
    }

    /**
     * Arms the one fault of a proxy started {@link #clean}. Its offset counts from the start of the direction;
     * one the direction has already passed is refused.
     */
    public synchronized void arm(Fault f) {
        if (fault != null) {
            throw new IllegalStateException("a proxy applies one fault; it has " + fault);
        }
        long passed = forwarded(f.connection(), f.direction());
        if (passed > f.offset()) {
            throw new IllegalStateException("too late for " + f + ": " + passed + " bytes have passed");
        }
        fault = f;
    }

    /**
     * Whether {@code direction} of connection {@code connection} is waiting for bytes to forward, having
     * forwarded {@code count}: on loopback a sender's write has reached this side when it returns, so once
     * this holds everything the sender had written is through.
     */
    public boolean quiet(int connection, Direction direction, long count) {
        return Boolean.TRUE.equals(reading.get(key(connection, direction))) && forwarded(connection, direction) == count;
    }

    /** The copy of what {@code direction} of connection {@code connection} forwarded so far. */
    public byte[] copy(int connection, Direction direction) {
        ByteArrayOutputStream c = copies.get(key(connection, direction));
        if (c == null) {
            return new byte[0];
        }
        synchronized (c) {
            return c.toByteArray();
        }
    }

    private static String key(int connection, Direction direction) {
        return connection + "/" + direction;
    }

    private void acceptLoop() {
        try {
            for (int c = 0; ; c++) {
                SocketChannel from = server.accept();
                sockets.add(from);
                SocketChannel to;
                try {
                    to = SocketChannel.open(destination); // before the next accept: the destination sees the same order
                } catch (IOException e) {
                    closeQuietly(from);
                    continue;
                }
                sockets.add(to);
                if (closing.getCount() == 0) { // closed while this one was being connected
                    closeQuietly(from);
                    closeQuietly(to);
                    return;
                }
                from.socket().setTcpNoDelay(true);
                to.socket().setTcpNoDelay(true);
                accepted.incrementAndGet();
                var connection = new Connection(c, from, to);
                pumps.add(Thread.ofPlatform().name("fault-proxy-" + c + "-up").daemon()
                        .start(() -> connection.pump(Direction.TO_DESTINATION, from, to)));
                pumps.add(Thread.ofPlatform().name("fault-proxy-" + c + "-down").daemon()
                        .start(() -> connection.pump(Direction.TO_SOURCE, to, from)));
            }
        } catch (IOException e) {
            // the listener was closed: the proxy is closing
        }
    }

    /** One proxied connection: the source's socket and the one to the destination. */
    private final class Connection {
        private final int id;
        private final SocketChannel source;
        private final SocketChannel dest;

        Connection(int id, SocketChannel source, SocketChannel dest) {
            this.id = id;
            this.source = source;
            this.dest = dest;
        }

        void pump(Direction direction, SocketChannel in, SocketChannel out) {
            String key = key(id, direction);
            AtomicLong count = forwarded.computeIfAbsent(key, k -> new AtomicLong());
            ByteArrayOutputStream copy = copies.computeIfAbsent(key, k -> new ByteArrayOutputStream());
            ByteBuffer buf = ByteBuffer.allocate(CHUNK);
            try {
                while (true) {
                    reading.put(key, true);
                    int n = in.read(buf.clear());
                    reading.put(key, false);
                    if (n < 0) {
                        out.shutdownOutput();
                        return;
                    }
                    long done = count.get();
                    Fault f = fault; // read after the bytes came: a fault armed meanwhile applies to them
                    boolean hit = f != null && f.connection() == id && f.direction() == direction
                            && f.offset() >= done && f.offset() < done + n;
                    int pass = n;
                    if (hit && f.kind() == Kind.CORRUPT) {
                        int at = (int) (f.offset() - done);
                        buf.put(at, (byte) ~buf.get(at));
                    } else if (hit) {
                        pass = (int) (f.offset() - done); // the bytes before the offset, not one more
                    }
                    if (hit) {
                        // before the bytes go on: the peer may fail on the corrupted byte and the test look at
                        // this before the write below returns
                        applied.countDown();
                    }
                    synchronized (copy) {
                        copy.write(buf.array(), 0, pass);
                    }
                    buf.flip().limit(pass);
                    while (buf.hasRemaining()) {
                        out.write(buf);
                    }
                    count.addAndGet(pass);
                    if (hit) {
                        if (f.kind() == Kind.CUT) {
                            closeBoth();
                            return;
                        }
                        if (f.kind() == Kind.STALL) {
                            closing.await(); // stalled: nothing more is read until the proxy closes
                            return;
                        }
                    }
                }
            } catch (IOException e) {
                closeBoth(); // a reset or a closed peer: the connection is broken both ways
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                reading.put(key, false);
            }
        }

        private void closeBoth() {
            closeQuietly(source);
            closeQuietly(dest);
        }
    }

    private static void closeQuietly(SocketChannel s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // closing to break the connection: nothing to do if that fails
        }
    }

    /** Stops accepting, breaks every connection (a stall included) and waits for the proxy's threads. */
    @Override
    public void close() throws InterruptedException {
        closing.countDown();
        try {
            server.close();
        } catch (IOException ignored) {
            // the listener is going away either way
        }
        sockets.forEach(FaultProxy::closeQuietly);
        acceptor.join(Await.DEADLINE);
        for (Thread t : new ArrayList<>(pumps)) {
            t.join(Await.DEADLINE);
        }
    }
}
