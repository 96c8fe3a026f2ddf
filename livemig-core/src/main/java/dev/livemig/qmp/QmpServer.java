package dev.livemig.qmp;

import dev.livemig.json.Json;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RunState;
import dev.livemig.migration.IncomingMigration;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.migration.MigrationController;
import dev.livemig.migration.QmpDialect;
import dev.livemig.transport.HandshakeGate;
import dev.livemig.transport.MigrationUri;
import dev.livemig.wire.MigrationException;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A QMP monitor for one {@link Machine}, listening on a unix socket and/or a tcp address. Each client gets
 * its own virtual thread ({@code qmp-client-N}), the greeting, capability negotiation and the commands of
 * {@link MachineCommands}. A machine is a source, or a destination when built with {@link Builder#incoming}
 * (QEMU's {@code -incoming URI} or {@code -incoming defer}). Events go to every negotiated client. A client
 * that disconnects, even in the middle of a message, ends only its own session. {@link #close()} (or the
 * {@code quit} command) stops listening, gives every client one shared {@link QmpLimits#closeGrace()} to
 * receive what is queued for it (the quit reply, SHUTDOWN), drops them all, cancels a running migration and
 * removes the unix socket file.
 *
 * <p>Bounds: the {@link QmpLimits} given to the {@link Builder} ({@link QmpLimits#defaults()} otherwise) cap
 * the clients served at once, the bytes of one message, of all unfinished messages together, and of output
 * queued for a client that does not read. QEMU's monitor serves one client at a time and lets a message grow
 * to 64 MiB; a control plane needs a few clients and a few KiB, and nothing a client sends can make this server
 * hold more than the limits say. A client over a limit gets a QMP error (or, when it does not read, a line in
 * the server's log) and is closed, and its memory is released; the others go on.
 */
public final class QmpServer implements AutoCloseable {
    /** The largest message accepted by default; QEMU's limit is far higher, a control plane needs far less. */
    public static final int MAX_MESSAGE_BYTES = QmpLimits.DEFAULT_MAX_MESSAGE_BYTES;
    private static final System.Logger LOG = System.getLogger(QmpServer.class.getName());
    private static final Duration JOIN_TIMEOUT = Duration.ofSeconds(5);

    private final MigrationController controller;
    private final MachineCommands commands;
    private final QmpDispatcher dispatcher;
    private final List<ServerSocketChannel> listeners = new ArrayList<>();
    private final List<Thread> acceptors = new ArrayList<>();
    private final Set<QmpSession> sessions = ConcurrentHashMap.newKeySet();
    private final Set<Thread> clientThreads = ConcurrentHashMap.newKeySet();
    private final AtomicLong clientCount = new AtomicLong();
    private final QmpLimits limits;
    private final Semaphore clientSlots;
    private final ByteBudget inputBudget;
    private final AtomicBoolean closing = new AtomicBoolean();
    private final CountDownLatch closed = new CountDownLatch(1);
    private final Path unixSocket;
    /** The client thread whose quit command closes the server; only it may, after queueing its reply. */
    private final AtomicReference<Thread> quitter = new AtomicReference<>();
    private InetSocketAddress tcpAddress;

    private QmpServer(Builder b) throws MigrationException {
        this.unixSocket = b.unixSocket;
        this.limits = b.limits;
        this.clientSlots = new Semaphore(b.limits.maxClients());
        this.inputBudget = new ByteBudget(b.limits.maxBufferedBytes());
        var controller = MigrationController.builder(b.machine).config(b.config)
                .events(MachineCommands.eventsTo(this::broadcast));
        if (b.dialect != null) {
            controller.dialect(b.dialect);
        }
        if (b.objects != null) {
            controller.objects(b.objects);
        }
        if (b.destination) {
            controller.destination(b.incomingUri, b.autostart, b.gate);
            if (b.cprIncoming != null) {
                controller.cprIncoming(b.cprIncoming);
            }
        }
        this.controller = controller.build();
        this.commands = new MachineCommands(this.controller, () -> quitter.compareAndSet(null, Thread.currentThread()));
        this.dispatcher = new QmpDispatcher(commands.table());
    }

    /**
     * Starts a server for a source {@code machine} on {@code unixSocket} (replaced if it exists, as QEMU does)
     * and/or {@code tcp} (port 0 picks a free port; see {@link #tcpAddress()}). Either may be null, not both.
     */
    public static QmpServer start(Machine machine, Path unixSocket, InetSocketAddress tcp) throws IOException {
        try {
            return builder(machine).unix(unixSocket).tcp(tcp).start();
        } catch (MigrationException e) {
            throw new IllegalStateException("a source server starts no migration", e);
        }
    }

    /** Starts setting up a server for {@code machine}: a source with QEMU's defaults unless told otherwise. */
    public static Builder builder(Machine machine) {
        return new Builder(machine);
    }

    /** How a server is set up: where it listens, the initial migration configuration, the incoming side. */
    public static final class Builder {
        private final Machine machine;
        private MigrationConfig config = MigrationConfig.defaults();
        private Path unixSocket;
        private InetSocketAddress tcp;
        private boolean destination;
        private MigrationUri incomingUri;
        private boolean autostart;
        private HandshakeGate gate;
        private dev.livemig.cpr.CprIncoming cprIncoming;
        private dev.livemig.transport.tls.UserObjects objects;
        private QmpLimits limits = QmpLimits.defaults();
        private QmpDialect dialect;

        private Builder(Machine machine) {
            this.machine = machine;
        }

        /** Capabilities and parameters before any migrate-set-* (a command line's --capability etc.). */
        public Builder config(MigrationConfig initial) {
            this.config = initial;
            return this;
        }

        /**
         * The QEMU release whose QMP migration interface the server presents (greeting, capabilities, parameters,
         * texts); by default {@link QmpDialect#forMachine} of the machine's type.
         */
        public Builder dialect(QmpDialect dialect) {
            this.dialect = java.util.Objects.requireNonNull(dialect, "dialect");
            return this;
        }

        /**
         * The objects (TLS credentials, authz) created before the server starts (a command line's -object); object-add
         * adds to them. By default an empty set.
         */
        public Builder objects(dev.livemig.transport.tls.UserObjects objects) {
            this.objects = java.util.Objects.requireNonNull(objects, "objects");
            return this;
        }

        /** How many clients, and how many bytes of theirs, the server takes on (see {@link QmpLimits}). */
        public Builder limits(QmpLimits limits) {
            this.limits = java.util.Objects.requireNonNull(limits, "limits");
            return this;
        }

        /**
         * Listens on a unix socket at {@code path} (an existing file there is replaced, as QEMU does); null for none.
         */
        public Builder unix(Path path) {
            this.unixSocket = path;
            return this;
        }

        /** Listens on this tcp address (port 0 picks a free one, see {@link QmpServer#tcpAddress()}); null for none. */
        public Builder tcp(InetSocketAddress address) {
            this.tcp = address;
            return this;
        }

        /**
         * Makes the machine a destination: it listens on {@code uri} as the server starts, or with a null
         * {@code uri} waits for migrate-incoming (QEMU's {@code -incoming defer}). {@code autostart} false keeps
         * it paused after the load (QEMU's -S); cont and stop change that until the load ends.
         */
        public Builder incoming(MigrationUri uri, boolean autostart) {
            return incoming(uri, autostart, HandshakeGate.DEFAULT);
        }

        /** {@link #incoming(MigrationUri, boolean)} taking only connections that pass {@code gate}, for either start. */
        public Builder incoming(MigrationUri uri, boolean autostart, HandshakeGate gate) {
            this.destination = true;
            this.incomingUri = uri;
            this.autostart = autostart;
            this.gate = java.util.Objects.requireNonNull(gate, "gate");
            return this;
        }

        /**
         * A destination that is the new process of a cpr-transfer, whose CPR state has come on the cpr channel
         * ({@link MigrationController.Builder#cprIncoming}); with {@link #incoming}.
         */
        public Builder cprIncoming(dev.livemig.cpr.CprIncoming cpr) {
            this.cprIncoming = java.util.Objects.requireNonNull(cpr, "cpr");
            return this;
        }

        /** Binds, and for a destination with a URI starts listening for the migration. */
        public QmpServer start() throws IOException, MigrationException {
            if (unixSocket == null && tcp == null) {
                throw new IllegalArgumentException("a QMP server needs a unix socket path or a tcp address");
            }
            return new QmpServer(this).bind(unixSocket, tcp); // the controller checks the configuration and the machine
        }
    }

    /**
     * The incoming migration once it has started (at once, or when migrate-incoming succeeds); fails when the
     * server closes first or the machine is not a destination.
     */
    public CompletionStage<IncomingMigration> incomingStarted() {
        return controller.incomingStarted();
    }

    /** The machine's migration controller, which the server's commands drive; the process may drive it too. */
    public MigrationController controller() {
        return controller;
    }

    private QmpServer bind(Path unixSocket, InetSocketAddress tcp) throws IOException, MigrationException {
        var server = this;
        try {
            if (unixSocket != null) {
                Files.deleteIfExists(unixSocket);
                var ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
                server.listeners.add(ch);
                ch.bind(UnixDomainSocketAddress.of(unixSocket));
                server.accept(ch, "unix");
            }
            if (tcp != null) {
                var ch = ServerSocketChannel.open(); // the dual stack binds IPv4 and IPv6 addresses alike
                server.listeners.add(ch);
                ch.bind(tcp);
                server.tcpAddress = (InetSocketAddress) ch.getLocalAddress();
                server.accept(ch, "tcp");
            }
            controller.startIncoming();
        } catch (IOException | MigrationException | RuntimeException e) {
            server.close();
            throw e;
        }
        return server;
    }

    /** The bound tcp address (with the real port), or null without tcp. */
    public InetSocketAddress tcpAddress() {
        return tcpAddress;
    }

    /**
     * The greeting. The shape is QEMU's; the version is the {@link QmpDialect}'s release, and package names
     * livemig so a client can tell it is not QEMU. No capabilities are offered: livemig has no out-of-band
     * execution.
     */
    Json.Obj greeting() {
        return Json.object().put("QMP", Json.object()
                .put("version", commands.version())
                .put("capabilities", new Json.Arr(List.of()))
                .build()).build();
    }

    /** Sends an event to every negotiated client, with QEMU's timestamp (seconds and microseconds). */
    public void broadcast(String name, Json.Obj data, long timestampMillis) {
        Json.Obj timestamp = Json.object().put("seconds", timestampMillis / 1000)
                .put("microseconds", (timestampMillis % 1000) * 1000).build();
        Json.Obj event = Json.object().put("event", name).put("data", data).put("timestamp", timestamp).build();
        byte[] line = QmpSession.line(event); // written once, shared by every client's outbox
        for (QmpSession s : sessions) {
            s.sendEvent(line);
        }
    }

    /** Waits until the server has closed (after quit, or {@link #close()} from another thread). */
    public void awaitClosed() throws InterruptedException {
        closed.await();
    }

    /** Waits until the server has closed (e.g. after quit); true if it did within {@code timeout}. */
    public boolean awaitClosed(Duration timeout) throws InterruptedException {
        return closed.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
    }

    /** Whether the command just run on {@code thread} was the quit that closes this server. */
    boolean quitRequestedBy(Thread thread) {
        return quitter.get() == thread;
    }

    void forget(QmpSession session) {
        if (sessions.remove(session)) {
            clientSlots.release();
        }
        clientThreads.remove(Thread.currentThread());
    }

    /** Bytes held for unfinished incoming messages, all clients together (never above {@link QmpLimits#maxBufferedBytes()}). */
    long bufferedBytes() {
        return inputBudget.used();
    }

    /** Clients connected now. */
    int clients() {
        return sessions.size();
    }

    /** Clients with output queued and not yet written: those not reading, or not yet. */
    long clientsWithUnsentOutput() {
        return sessions.stream().filter(s -> s.pendingOutputBytes() > 0).count();
    }

    private void accept(ServerSocketChannel listener, String kind) {
        acceptors.add(Thread.ofVirtual().name("qmp-accept-" + kind).start(() -> {
            while (!closing.get()) {
                SocketChannel client;
                try {
                    client = listener.accept();
                } catch (IOException e) {
                    return; // the listener was closed
                }
                String name = "qmp-client-" + clientCount.incrementAndGet();
                if (!clientSlots.tryAcquire()) {
                    refuse(client, name, "too many QMP clients: limit=" + limits.maxClients());
                    continue;
                }
                // a unix client may pass descriptors (getfd): read with recvmsg, which blocks in native code, so
                // on a platform thread (a virtual one would pin a carrier while it waits)
                boolean receives = kind.equals("unix") && dev.livemig.linux.SocketChannelDescriptor.available();
                var session = new QmpSession(client, this, dispatcher, limits, inputBudget, name, receives);
                sessions.add(session);
                Thread t = (receives ? Thread.ofPlatform().daemon() : Thread.ofVirtual()).name(name).unstarted(session);
                clientThreads.add(t);
                t.start();
                if (closing.get()) {
                    session.close(); // raced with close(): do not leave a client behind
                }
            }
        }));
    }

    /** Answers a client that cannot be served with an error instead of the greeting, and closes it. */
    private static void refuse(SocketChannel client, String name, String desc) {
        LOG.log(System.Logger.Level.WARNING, "QMP client refused: client={0} reason={1}", name, desc);
        try (client) {
            // a fresh socket's send buffer is empty: this short write does not block
            ByteBuffer line = ByteBuffer.wrap(QmpSession.line(QmpDispatcher.error(null, QmpException.generic(desc))));
            while (line.hasRemaining()) {
                client.write(line);
            }
        } catch (IOException e) {
            // the client is gone already
        }
    }

    @Override
    public void close() {
        if (!closing.compareAndSet(false, true)) {
            return;
        }
        try {
            if (quitter.get() != null) {
                // QEMU announces its exit on every monitor before it goes
                broadcast("SHUTDOWN", Json.object().put("guest", false).put("reason", "host-qmp-quit").build(),
                        System.currentTimeMillis());
            }
            for (ServerSocketChannel l : listeners) {
                closeQuietly(l);
            }
            // every client's writer flushes at once, within one grace for all: a client that does not read
            // costs the others nothing and quit no more than the grace
            List<QmpSession> all = List.copyOf(sessions);
            long deadline = System.nanoTime() + limits.closeGrace().toNanos();
            for (QmpSession s : all) {
                s.endOutput(); // after the SHUTDOWN event and any pending reply
            }
            for (QmpSession s : all) {
                s.awaitOutputWritten(deadline);
            }
            for (QmpSession s : all) {
                s.close();
            }
            controller.shutdown(JOIN_TIMEOUT);
            joinAll();
            if (unixSocket != null) {
                Files.deleteIfExists(unixSocket);
            }
        } catch (IOException e) {
            // the socket file could not be removed; nothing listens on it any more
        } finally {
            closed.countDown();
        }
    }

    private void joinAll() {
        List<Thread> threads = new ArrayList<>(acceptors);
        threads.addAll(clientThreads);
        long deadline = System.nanoTime() + JOIN_TIMEOUT.toNanos();
        for (Thread t : threads) {
            if (t == Thread.currentThread()) {
                continue;
            }
            try {
                t.join(Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private static void closeQuietly(ServerSocketChannel ch) {
        try {
            ch.close();
        } catch (IOException e) {
            // already unusable
        }
    }
}
