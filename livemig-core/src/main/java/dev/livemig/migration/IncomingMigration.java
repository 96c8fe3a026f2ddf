package dev.livemig.migration;

import dev.livemig.machine.LiveStateHandler;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RamBlock;
import dev.livemig.machine.Registration;
import dev.livemig.machine.RunState;
import dev.livemig.savevm.ConfigurationRecord;
import dev.livemig.savevm.DescribedDevices;
import dev.livemig.multifd.MultifdReceiver;
import dev.livemig.savevm.LoadVm;
import dev.livemig.savevm.StandardSections;
import dev.livemig.transport.HandshakeGate;
import dev.livemig.transport.IncomingListener;
import dev.livemig.transport.MigrationChannel;
import dev.livemig.transport.MigrationUri;
import dev.livemig.transport.Transports;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The destination of one migration (§6.3): listens on a URI, accepts one channel, loads the stream into the
 * machine on a thread named livemig-mig-dst, answers on the return path when the source opened one (PONG,
 * SWITCHOVER_ACK, SHUT), and at the end enters the source's run state (resuming a machine that was running,
 * unless told to stay paused). From listen until the load ends the machine is in run state inmigrate, as
 * QEMU's is; the status is none until the source connects, then active (QEMU 7.2 has no destination setup). A failed or cancelled load zeroes the machine's RAM (nothing half-received stays behind) and
 * leaves it paused; device state may be partly loaded and must not be trusted.
 */
public final class IncomingMigration implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(IncomingMigration.class.getName());
    private final Machine machine;
    private final MigrationConfig config;
    private final Object autostartLock = new Object();
    private boolean autostart;          // guarded by autostartLock
    private boolean autostartDecided;   // guarded by autostartLock: the load has ended
    private final CountDownLatch finished = new CountDownLatch(1);
    private final java.util.concurrent.CompletableFuture<MigrationInfo> completion = new java.util.concurrent.CompletableFuture<>();

    private final StatusMachine state;
    private volatile String error;
    private volatile IncomingListener listener;
    private volatile MigrationChannel channel;
    private volatile boolean cancelled;
    private volatile DestinationReturnPath returnPath; // from the source's connection on
    private volatile RunState sourceRunState;
    private volatile PostcopyDestination postcopy; // capability postcopy-ram, from the source's connection on
    private volatile dev.livemig.postcopy.PageServerProcess.Outcome postcopyOutcome;
    private Thread thread;
    private volatile MigrationUri address;
    private final QmpDialect dialect;
    private final boolean scratch; // one of CodeWarmUp's

    /** {@code autostart} false keeps the machine paused after the load (QEMU's -S / autostart off). */
    IncomingMigration(Machine machine, MigrationConfig config, boolean autostart, Consumer<MigrationEvent> events) {
        this(machine, config, autostart, QmpDialect.QEMU_7_2, events);
    }

    /**
     * {@code dialect}: whose statuses it goes through; 10.0's destination is in setup while it listens (its
     * MIGRATION event is the caller's to send: QEMU announces setup before it listens, 7.2 as well).
     */
    IncomingMigration(Machine machine, MigrationConfig config, boolean autostart, QmpDialect dialect,
                             Consumer<MigrationEvent> events) {
        this.dialect = dialect;
        this.scratch = CodeWarmUp.onWarmUpThread();
        this.machine = machine;
        this.config = config;
        this.autostart = autostart;
        this.state = new StatusMachine(MigrationStatus.Side.DESTINATION, events);
    }

    /** fd:NAME: the socket a QMP client passed, adopted as the one incoming connection (null otherwise). */
    private MigrationChannel adopted;

    /** For {@code migrate-incoming fd:NAME}: the connection is this one, already connected; set before listening. */
    void mainChannel(MigrationChannel connected) {
        this.adopted = connected;
    }

    /** Starts listening; returns the address to give the source (the real port for tcp port 0). */
    MigrationUri listen(MigrationUri uri) throws MigrationException {
        return listen(uri, HandshakeGate.DEFAULT);
    }

    /** Starts listening, taking only connections that pass {@code gate} (tcp, unix). */
    MigrationUri listen(MigrationUri uri, HandshakeGate gate) throws MigrationException {
        return listen(uri, gate, null);
    }

    /**
     * Starts listening as the new process of a cpr-transfer whose CPR state {@code cpr} has come (null: a migration
     * of another mode): the machine's RAM is the memory handed over, the stream will carry no page, and the cpr
     * connection is closed once this listens — the old process's cue to connect.
     */
    synchronized MigrationUri listen(MigrationUri uri, HandshakeGate gate, dev.livemig.cpr.CprIncoming cpr) throws MigrationException {
        MigrationConfig.validated(config);
        if (listener != null) {
            throw new MigrationException("already listening on " + listener.address());
        }
        if (machine.runState().isRunning()) {
            throw new MigrationException("the destination machine must not be running: machine=" + machine.name());
        }
        config.checkDirectIo();
        if (multifdChannels() && !(uri instanceof MigrationUri.Tcp || uri instanceof MigrationUri.Unix)) {
            throw new MigrationException("multifd needs a socket transport (tcp or unix), not " + uri);
        }
        if (cpr != null) {
            cpr.checkEveryDescriptorTaken(); // before anything listens: the old process must not find a listener
        }
        listener = adopted != null && uri instanceof MigrationUri.Fd fd ? Transports.listening(adopted, fd, gate) : Transports.listen(uri, gate);
        if (cpr == null) { // cpr-transfer's source connects at once: the new process warms up while it waits for the state
            CodeWarmUp.startOnce(); // while it waits for the source
        }
        address = listener.address();
        machine.enter(RunState.INMIGRATE);
        if (dialect.listensInSetup()) {
            state.moveAnnounced(MigrationStatus.SETUP); // 7.2's stays none until the source connects
        }
        StandardSections.of(machine).ram().postcopyIncoming(config.has(MigrationCapability.POSTCOPY_RAM));
        StandardSections.of(machine).ram().cprTransfer(cpr != null);
        StandardSections.of(machine).ram().prepareIncoming(); // fault RAM in while the source connects
        thread = Thread.ofPlatform().name("livemig-mig-dst").start(this::run);
        if (cpr != null) {
            cpr.listening();
        }
        return listener.address();
    }

    /** postcopy-preempt: a second connection carries requested pages (§12.7). */
    private boolean preemptChannel() {
        return config.has(MigrationCapability.POSTCOPY_RAM) && config.has(MigrationCapability.POSTCOPY_PREEMPT)
                && !multifdChannels();
    }

    /**
     * Takes the next connection as the preempt channel, whenever it comes (QEMU 7.2's source connects it at the
     * start, current QEMU's at the switch); the listener closes after it, or when the migration ends.
     */
    private Thread acceptPreempt(PostcopyDestination to) {
        IncomingListener l = listener;
        return Thread.ofPlatform().name("livemig-preempt-accept").daemon().start(() -> {
            try {
                to.preemptChannel(l.acceptSilent()); // silent until the first requested page
            } catch (MigrationException e) {
                // closed: the migration ended before it came, or the page server could not take it (then the
                // pages it would carry are missing at EOF, and the load fails saying so)
                if (!cancelled && state.status() != MigrationStatus.COMPLETED) {
                    LOG.log(System.Logger.Level.DEBUG, "postcopy-preempt channel: {0}", e.getMessage());
                }
            } finally {
                l.close();
            }
        });
    }

    /** multifd over sockets; with mapped-ram a file's pages are read where they are instead (§17.2). */
    private boolean multifdChannels() {
        return config.has(MigrationCapability.MULTIFD) && !config.has(MigrationCapability.MAPPED_RAM);
    }

    /** The current status: none until the source connects (or setup while listening, by the dialect); any thread. */
    public MigrationStatus status() {
        return state.status();
    }

    /** Where it listens (the real port for tcp port 0); null before {@link #listen}. */
    public MigrationUri address() {
        return address;
    }

    /**
     * Changes whether the machine resumes when the load completes (QEMU's cont and stop during inmigrate).
     * Returns false when it is too late: the load has already ended and the run state was decided.
     */
    boolean setAutostart(boolean on) {
        synchronized (autostartLock) {
            if (autostartDecided) {
                return false;
            }
            autostart = on;
            return true;
        }
    }

    /** Why the load failed (or a failure to approve switchover), null while none happened; any thread. */
    public String error() {
        return error;
    }

    /** The run state the source was in, once the load completed. */
    public RunState sourceRunState() {
        return sourceRunState;
    }

    /** Waits until the load has ended; returns its final status (or the current one on timeout). */
    public MigrationStatus awaitFinished(long timeout, TimeUnit unit) throws InterruptedException {
        finished.await(timeout, unit);
        return state.status();
    }

    /** Stops listening or loading; the machine stays paused. */
    public void cancel() {
        cancelled = true;
        IncomingListener l = listener;
        if (l != null) {
            l.close();
        }
        MigrationChannel.closeQuietly(channel);
    }

    /**
     * query-migrate's reply on the destination: only the status, and the error once failed (a destination
     * counts no transfer figures; they are -1); once completed in postcopy with capability postcopy-blocktime,
     * the blocktime (as QEMU, which reports it only then).
     */
    public MigrationInfo info() {
        MigrationStatus s = state.status();
        var outcome = postcopyOutcome;
        MigrationInfo.PostcopyBlocktime blocktime = null;
        if (s == MigrationStatus.COMPLETED && outcome != null && config.has(MigrationCapability.POSTCOPY_BLOCKTIME)) {
            var each = outcome.faults().threads().stream().map(t -> t.nanos() / 1_000_000).toList();
            blocktime = new MigrationInfo.PostcopyBlocktime(outcome.faults().blocktimeNanos() / 1_000_000, each);
        }
        return new MigrationInfo(s, -1, -1, -1, -1, null, s == MigrationStatus.FAILED ? error : null, 0, null, null, blocktime);
    }

    private void run() {
        MultifdReceiver multifd = null;
        Thread acceptor = null;
        var event = new IncomingLoadEvent();
        try {
            channel = listener.accept();
            event.begin();
            if (!scratch) {
                CodeWarmUp.migrationBegins();
            }
            if (multifdChannels()) {
                // QEMU 7.2: the first connection is the main channel, every later one a multifd channel
                var receiver = new MultifdReceiver((int) config.longValue(MigrationParameter.MULTIFD_CHANNELS),
                        // with x-ignore-shared no page may come for a shared file block: a packet naming one is refused
                        config.text(MigrationParameter.MULTIFD_COMPRESSION), machine.ramBlocks().stream()
                                .filter(b -> !StandardSections.of(machine).ram().cprTransfer()
                                        && !b.keptInPlace(config.has(MigrationCapability.X_IGNORE_SHARED))).toList(),
                        Duration.ofSeconds(10),
                        machine.uuid().map(ConfigurationRecord::bytes).orElse(new byte[16]));
                receiver.onBlockFed(StandardSections.of(machine).ram()::pageCameFor);
                multifd = receiver;
                IncomingListener l = listener;
                acceptor = Thread.ofPlatform().name("livemig-multifd-accept").daemon().start(() -> {
                    try {
                        while (true) { // one too many fails the load (channel id): mismatched multifd-channels
                            receiver.add(l.accept());
                        }
                    } catch (MigrationException e) {
                        // closed: the migration ended or failed before every channel came
                    } finally {
                        l.close();
                    }
                });
                StandardSections.of(machine).ram().atSectionEnd(receiver::sync);
            } else if (!preemptChannel()) {
                listener.close(); // one migration per listen, as QEMU
            }
            if (cancelled) {
                throw new MigrationException("cancelled");
            }
            state.move(MigrationStatus.ACTIVE);
            returnPath = new DestinationReturnPath(channel, config.has(MigrationCapability.SWITCHOVER_ACK));
            prepareSwitchoverAcks();
            StandardSections.of(machine).ram().options(config.ramOptions());
            StandardSections.of(machine).ram().ignoreShared(config.has(MigrationCapability.X_IGNORE_SHARED));
            StandardSections.of(machine).ram().directIo(config.booleanValue(MigrationParameter.DIRECT_IO)
                    && address instanceof MigrationUri.File file ? file.path() : null);
            var in = new StreamReader(channel);
            LoadVm.CommandHandler commands = returnPath::onCommand;
            if (config.has(MigrationCapability.POSTCOPY_RAM)) {
                postcopy = new PostcopyDestination(machine, returnPath, channel, in,
                        () -> state.move(MigrationStatus.POSTCOPY_ACTIVE), this::startAtPostcopyRun, recoverAddress(), config.has(MigrationCapability.POSTCOPY_PREEMPT));
                commands = postcopy;
            }
            var load = new LoadVm(machine, in, DescribedDevices.NONE, commands);
            if (postcopy != null) {
                postcopy.loadWith(load);
            }
            if (preemptChannel()) {
                acceptor = acceptPreempt(postcopy);
            }
            LoadVm.Result result = load.load();
            if (multifd != null) {
                multifd.checkNothingAfterLastSync();
            }
            if (postcopy != null && postcopy.handedOff()) {
                postcopyOutcome = postcopy.awaitEnd(new dev.livemig.postcopy.PageServerProcess.Recovery() {
                    @Override
                    public void paused(String reason) {
                        LOG.log(System.Logger.Level.WARNING, "postcopy paused: {0}", reason);
                        moveUnlessThere(MigrationStatus.POSTCOPY_PAUSED); // waiting guest threads keep waiting
                    }

                    @Override
                    public void recovering() {
                        moveUnlessThere(MigrationStatus.POSTCOPY_RECOVER); // from paused, or recover-setup (10.0)
                    }

                    @Override
                    public void resumed() {
                        moveUnlessThere(MigrationStatus.POSTCOPY_ACTIVE);
                    }
                }); // the guest runs (or not) since POSTCOPY_RUN
                state.move(MigrationStatus.COMPLETED);
                return;
            }
            returnPath.succeeded();
            sourceRunState = result.sourceRunState();
            boolean start;
            synchronized (autostartLock) {
                autostartDecided = true;
                start = autostart && result.sourceRunState().isRunning();
                if (!start) {
                    machine.enter(result.sourceRunState().isRunning() ? RunState.PAUSED : result.sourceRunState());
                }
            }
            if (start) {
                long resumeNs = System.nanoTime();
                machine.resume();
                event.start = System.nanoTime() - resumeNs;
                state.emit(new MigrationEvent.Resume(System.currentTimeMillis()));
            }
            state.move(MigrationStatus.COMPLETED);
        } catch (MigrationException | RuntimeException e) {
            error = e.getMessage() == null ? e.toString() : e.getMessage();
            if (e instanceof RuntimeException) { // a livemig bug: query-migrate shows the message, the log the stack
                LOG.log(System.Logger.Level.ERROR, "incoming migration failed unexpectedly", e);
            }
            DestinationReturnPath rp = returnPath;
            if (postcopy != null) {
                postcopy.failed();
                postcopy.close(); // the page server poisoned what never came; waiting guest threads are released
            } else if (rp != null) {
                rp.failed(); // best effort: the source learns of the failure from the closed connection otherwise
            }
            if (postcopy == null && (rp == null || !rp.isOpen())) {
                MigrationChannel.reset(channel); // a source without return path learns of the refusal so
            } else {
                MigrationChannel.closeQuietly(channel);
            }
            if (multifd != null) {
                multifd.close(); // its threads write guest memory: stop them before it is discarded
            }
            // nothing half-received stays behind; memory kept in place is the source's own (cpr-transfer's handed-over
            // memory, x-ignore-shared's shared files): the old process may still run on it, or a restart load it again
            boolean cprTransfer = StandardSections.of(machine).ram().cprTransfer();
            machine.ramBlocks().stream().filter(b -> !cprTransfer && !b.keptInPlace(config.has(MigrationCapability.X_IGNORE_SHARED)))
                    .forEach(RamBlock::discard);
            synchronized (autostartLock) {
                autostartDecided = true;
                machine.enter(RunState.PAUSED);
            }
            state.move(cancelled ? MigrationStatus.CANCELLED : MigrationStatus.FAILED);
        } finally {
            if (postcopy != null) {
                postcopy.close();
            }
            MigrationChannel.closeQuietly(channel);
            IncomingListener l = listener;
            if (l != null) {
                l.close();
            }
            if (multifd != null) {
                multifd.close();
                StandardSections.of(machine).ram().atSectionEnd(() -> { });
            }
            StandardSections.of(machine).ram().loadCleanup(); // a load that never began still stops the prefault
            StandardSections.of(machine).ram().directIo(null);
            if (acceptor != null) {
                try {
                    acceptor.join(5_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            event.end();
            if (event.shouldCommit() && !scratch) {
                event.status = state.status().qemuName();
                event.error = error;
                event.commit();
            }
            finished.countDown();
            completion.complete(info());
        }
    }

    /**
     * migrate-recover (format reference §12.6): after a cut in postcopy, the page server listens on {@code uri}
     * for the source's new main channel (no header: the stream goes on where it broke), and with postcopy-preempt
     * for its new preempt channel after it; returns the address. Only in postcopy-paused, with QEMU's words. The
     * page server also listens on this destination's own address at every cut, so a source may resume there
     * without this command (the command is served by this JVM, which a thread waiting for a page can stop).
     */
    public MigrationUri recover(MigrationUri uri) throws MigrationException {
        PostcopyDestination p = postcopy;
        if (!(uri instanceof MigrationUri.Tcp || uri instanceof MigrationUri.Unix)) {
            throw new MigrationException("postcopy recovery needs a tcp or unix transport, not " + uri);
        }
        synchronized (this) { // against the load thread's moves on the page server's word
            if (state.status() != MigrationStatus.POSTCOPY_PAUSED || p == null) {
                throw new MigrationException("Migrate recover can only be run when postcopy is paused.");
            }
            if (dialect.recoversThroughSetup()) {
                state.move(MigrationStatus.POSTCOPY_RECOVER_SETUP); // listening for the source (9.1+)
            }
        }
        try {
            return MigrationUri.parse(p.recover(uri.toString()));
        } catch (MigrationException e) {
            synchronized (this) {
                if (state.status() == MigrationStatus.POSTCOPY_RECOVER_SETUP) {
                    state.move(MigrationStatus.POSTCOPY_PAUSED);
                }
            }
            throw e;
        }
    }

    /**
     * Where the page server awaits a source that resumes without a migrate-recover: the address this destination
     * listened on, for tcp and unix (the source's migrate resume=true names it again).
     */
    private String recoverAddress() {
        MigrationUri a = address;
        return a instanceof MigrationUri.Tcp || a instanceof MigrationUri.Unix ? a.toString() : "";
    }

    /** A move on the page server's word, against migrate-recover's own (both under this object's lock). */
    private synchronized void moveUnlessThere(MigrationStatus next) {
        if (state.status() != next) {
            state.move(next);
        }
    }

    /** migrate-pause on the destination: cuts the link in postcopy on purpose (both ends then pause). */
    public void pausePostcopy() throws MigrationException {
        PostcopyDestination p = postcopy;
        MigrationStatus s = state.status();
        if (p == null || (s != MigrationStatus.POSTCOPY_ACTIVE && s != MigrationStatus.POSTCOPY_RECOVER)) {
            throw new MigrationException("migrate-pause is currently only supported during postcopy-active or postcopy-recover state");
        }
        p.cut();
    }

    /**
     * POSTCOPY_RUN: the device state is loaded and the rest of RAM comes on demand, so the guest starts now when
     * autostart says so (as QEMU starts it at RUN, not at the end of the stream).
     */
    private void startAtPostcopyRun() {
        RunState source = StandardSections.of(machine).globalState().received();
        source = source == null ? RunState.RUNNING : source;
        sourceRunState = source;
        boolean start;
        synchronized (autostartLock) {
            autostartDecided = true;
            start = autostart && source.isRunning();
            if (!start) {
                machine.enter(source.isRunning() ? RunState.PAUSED : source);
            }
        }
        if (start) {
            machine.resume();
            state.emit(new MigrationEvent.Resume(System.currentTimeMillis()));
        }
    }

    /**
     * What the postcopy page server measured once the migration completed in postcopy: pages it placed, faults,
     * requests, fault latency (p50, p99) and blocktime; empty before, or without postcopy.
     */
    public java.util.Optional<dev.livemig.postcopy.PageServerProcess.Outcome> postcopyOutcome() {
        return java.util.Optional.ofNullable(postcopyOutcome);
    }

    /** Completes with the final {@link MigrationInfo} (completed, failed or cancelled) when the load has ended. */
    public java.util.concurrent.CompletionStage<MigrationInfo> completion() {
        return completion.minimalCompletionStage();
    }

    /** Cancels a listen or load still under way and waits for its end; the machine stays paused. */
    @Override
    public void close() {
        synchronized (this) { // listen starts the thread under this lock
            if (thread == null) {
                return;
            }
        }
        cancel();
        completion.join(); // uninterruptible: a closed migration has ended
    }

    /** Hands every handler that needs to approve switchover its callback (capability switchover-ack). */
    private void prepareSwitchoverAcks() {
        if (!config.has(MigrationCapability.SWITCHOVER_ACK)) {
            return;
        }
        var waiting = machine.devices().snapshot().stream()
                .filter(r -> r instanceof Registration.Live live && live.handler().switchoverAckNeeded())
                .map(r -> ((Registration.Live) r).handler())
                .toList();
        returnPath.expectApprovals(waiting.size());
        for (LiveStateHandler h : waiting) {
            h.awaitSwitchoverApproval(this::approveOnce);
        }
    }

    private void approveOnce() {
        try {
            returnPath.approve();
        } catch (MigrationException e) {
            error = e.getMessage(); // the load thread will fail on the broken channel
        }
    }
}
