package dev.livemig.cli.guest;

import dev.livemig.cpr.CprIncoming;
import dev.livemig.linux.SocketDescriptor;
import dev.livemig.machine.DescriptorOwner;
import dev.livemig.machine.HandedOver;
import dev.livemig.vmstate.VmStateDescription;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

/**
 * The demo guest's network service: TCP clients send 8-byte requests and get back, as a big-endian 64-bit number,
 * how many requests the service has answered, this one included. That count is the service's state (device
 * "service"), so every answer is unique and the answers of all clients together count every request exactly once
 * — across a cpr-transfer too: the new process takes over the listening socket and every connection
 * ({@link DescriptorOwner}), and a request sent while the processes change waits in its socket for the new one.
 *
 * <p>It serves only while the guest runs: a pause finishes the request it is reading and answers it first, so no
 * request is ever half read by an old process.
 */
public final class CounterService implements DescriptorOwner, AutoCloseable {
    public static final String IDSTR = "service";
    public static final int REQUEST_BYTES = 8;
    static final String LISTENING = "service.listening";
    static final String CONNECTION = "service.connection";
    private static final long PARTIAL_REQUEST_WAIT_NS = 1_000_000_000L;

    public static final VmStateDescription<CounterService> DESCRIPTION = VmStateDescription.<CounterService>builder(IDSTR)
            .version(1)
            .uint64("served", s -> s.served, (s, v) -> s.served = v)
            .build();

    private final ServerSocketChannel listening;
    private final Selector selector;
    private final List<Connection> connections = new ArrayList<>(); // guarded by this
    private final Thread thread;
    private volatile long served;
    private volatile boolean run;
    private volatile boolean idle = true;
    private volatile boolean stop;
    private boolean frozen; // guarded by this: handed over, accepts no one until told the handover failed

    private record Connection(SocketChannel channel, ByteBuffer request) {
    }

    private CounterService(ServerSocketChannel listening, List<SocketChannel> taken) throws IOException {
        this.listening = listening;
        this.selector = Selector.open();
        listening.configureBlocking(false);
        listening.register(selector, SelectionKey.OP_ACCEPT);
        for (SocketChannel c : taken) {
            add(c);
        }
        this.thread = Thread.ofPlatform().name("demo-guest-service").daemon().start(this::loop);
    }

    /** A new service listening on {@code address} (port 0 picks one). */
    public static CounterService listen(InetSocketAddress address) throws IOException {
        ServerSocketChannel s = ServerSocketChannel.open();
        try {
            s.bind(address, 128);
            return new CounterService(s, List.of());
        } catch (IOException | RuntimeException e) {
            s.close();
            throw e;
        }
    }

    /** The new process's service: the listening socket and every connection the old process handed over. */
    public static CounterService takeOver(CprIncoming cpr) throws IOException {
        List<SocketChannel> taken = new ArrayList<>();
        for (int id : cpr.ids(CONNECTION)) {
            taken.add(cpr.connectedSocket(CONNECTION, id));
        }
        return new CounterService(cpr.listeningSocket(LISTENING, 0), taken);
    }

    /** Where clients connect. */
    public InetSocketAddress address() throws IOException {
        return (InetSocketAddress) listening.getLocalAddress();
    }

    /** Requests answered so far. */
    public long served() {
        return served;
    }

    /** Connections open now. */
    public synchronized int connections() {
        return connections.size();
    }

    @Override
    public synchronized List<HandedOver> handOver() {
        frozen = true; // from now on a connecting client waits in the backlog for the new process
        List<HandedOver> out = new ArrayList<>();
        out.add(new HandedOver(LISTENING, 0, new SocketDescriptor(listening)));
        for (int i = 0; i < connections.size(); i++) {
            out.add(new HandedOver(CONNECTION, i, new SocketDescriptor(connections.get(i).channel())));
        }
        return out;
    }

    @Override
    public synchronized void handOverAbandoned() {
        frozen = false;
        selector.wakeup();
    }

    /** Serves from now on (the guest runs). */
    void resume() {
        run = true;
        LockSupport.unpark(thread);
    }

    /** Stops serving; returns once no request is half read or unanswered. */
    void pause() {
        run = false;
        selector.wakeup();
        while (!idle) {
            Thread.onSpinWait();
        }
    }

    private void loop() {
        try {
            while (!stop) {
                if (!run) {
                    idle = true;
                    LockSupport.parkNanos(1_000_000);
                    continue;
                }
                idle = false;
                if (!run) { // re-check after announcing work, so pause() never misses a request in flight
                    idle = true;
                    continue;
                }
                selector.select(50);
                for (var it = selector.selectedKeys().iterator(); it.hasNext(); ) {
                    SelectionKey key = it.next();
                    it.remove();
                    if (key.isValid() && key.isAcceptable()) {
                        accept();
                    } else if (key.isValid() && key.isReadable()) {
                        serve(key, (Connection) key.attachment());
                    }
                }
                if (!run) {
                    finishPartialRequests();
                }
                idle = true;
            }
        } catch (IOException | RuntimeException e) {
            System.err.println("demo guest service stopped: " + e);
        } finally {
            idle = true;
        }
    }

    private synchronized void accept() throws IOException {
        if (frozen) {
            return;
        }
        SocketChannel c = listening.accept();
        if (c != null) {
            add(c);
        }
    }

    private synchronized void add(SocketChannel c) throws IOException {
        c.configureBlocking(false);
        Connection connection = new Connection(c, ByteBuffer.allocate(REQUEST_BYTES));
        c.register(selector, SelectionKey.OP_READ, connection);
        connections.add(connection);
    }

    private void serve(SelectionKey key, Connection c) throws IOException {
        int n;
        try {
            n = c.channel().read(c.request());
        } catch (IOException e) {
            n = -1; // reset by the client
        }
        if (n < 0) {
            drop(key, c);
            return;
        }
        if (!c.request().hasRemaining()) {
            answer(c);
        }
    }

    private void answer(Connection c) throws IOException {
        c.request().clear();
        long count = served + 1;
        served = count;
        ByteBuffer reply = ByteBuffer.allocate(8).putLong(count).flip();
        while (reply.hasRemaining()) {
            if (c.channel().write(reply) == 0) {
                Thread.onSpinWait(); // 8 bytes into an empty send buffer: at once in practice
            }
        }
    }

    /** Before pausing: a request read in part is read to its end and answered (clients write one in one go). */
    private void finishPartialRequests() throws IOException {
        long deadline = System.nanoTime() + PARTIAL_REQUEST_WAIT_NS;
        for (Connection c : snapshot()) {
            while (c.request().position() > 0 && c.request().hasRemaining() && System.nanoTime() < deadline) {
                if (c.channel().read(c.request()) < 0) {
                    break;
                }
            }
            if (!c.request().hasRemaining()) {
                answer(c);
            }
        }
    }

    private synchronized List<Connection> snapshot() {
        return List.copyOf(connections);
    }

    private synchronized void drop(SelectionKey key, Connection c) throws IOException {
        key.cancel();
        c.channel().close();
        connections.remove(c);
    }

    /**
     * Stops the service and closes its descriptors here. After a cpr-transfer that is harmless: the new process holds
     * its own descriptors for the same sockets, which stay open and connected.
     */
    @Override
    public void close() {
        stop = true;
        selector.wakeup();
        LockSupport.unpark(thread);
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            selector.close();
            for (Connection c : snapshot()) {
                c.channel().close();
            }
            listening.close();
        } catch (IOException e) {
            // closing: nothing left to do with them
        }
    }
}
