package dev.livemig.migration;

import dev.livemig.machine.LiveStateHandler;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RamBlock;
import dev.livemig.machine.RunState;
import dev.livemig.multifd.MultifdSender;
import dev.livemig.ram.PageRequests;
import dev.livemig.ram.RamCounters;
import dev.livemig.savevm.SaveVm;
import dev.livemig.savevm.StandardSections;
import dev.livemig.transport.MigrationChannel;
import dev.livemig.transport.MigrationUri;
import dev.livemig.transport.Transports;
import dev.livemig.wire.format.MigrationCommand;
import dev.livemig.wire.format.MigrationCommands;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamWriter;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * One outgoing live precopy migration of a running machine (QEMU's migration thread, §6.2, §6.4).
 *
 * <p>{@link #start} returns at once; a thread named livemig-mig-src connects, writes the header and every
 * handler's setup, iterates within the rate limit while the machine runs, and switches over when what is
 * left fits the downtime limit at the measured bandwidth (and, with switchover-ack, once the destination
 * agreed): it pauses the machine, completes every handler, sends device state, EOF and the trailer. Any
 * failure or {@link #cancel()} before completion leaves the source machine running with its state intact.
 * Statistics ({@link #info()}) and events may be read from any thread.
 */
public final class Migration implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Migration.class.getName());
    private static final long SHUT_TIMEOUT_MS = 30_000;
    /** How long a source without return path waits for the destination to close the connection after EOF. */
    private static final long DESTINATION_CLOSE_TIMEOUT_MS = 5_000;
    /** Passes beyond QEMU's switchover point while they keep halving what is left. */
    private static final int MAX_EXTRA_PASSES = 5;
    /** QEMU's MAX_VM_CMD_PACKAGED_SIZE: the largest package a destination takes. */
    private static final int MAX_PACKAGED_BYTES = 1 << 24;

    private final Machine machine;
    private final MigrationConfig config;
    private final RamCounters ram;
    private final CountDownLatch finished = new CountDownLatch(1);
    private final java.util.concurrent.CompletableFuture<MigrationInfo> completion = new java.util.concurrent.CompletableFuture<>();
    private final CountDownLatch continued = new CountDownLatch(1);
    private final Object lock = new Object();

    private final StatusMachine state;
    private volatile boolean cancelRequested;
    /** cpr-transfer: the memory the CPR state hands over, and the socket it goes through (null otherwise). */
    private java.util.List<dev.livemig.machine.HandedOver> handedOver;
    /** cpr-transfer: the application's descriptor owners that were asked (told if the migration does not complete). */
    private java.util.List<dev.livemig.machine.DescriptorOwner> descriptorOwners = java.util.List.of();
    private java.nio.file.Path cprChannel;
    private volatile MigrationChannel channel;
    private volatile MigrationChannel preemptChannel; // postcopy-preempt: requested pages go here after the switch
    private MigrationUri target; // the migration thread's: where further channels connect
    /** migrate resume=true: where a paused postcopy reconnects, taken by the migration thread. */
    private final java.util.concurrent.BlockingQueue<MigrationUri> resumeTargets = new java.util.concurrent.LinkedBlockingQueue<>();
    private volatile MultifdSender multifd;
    private volatile TransferWindow window;
    // the two parameters QEMU applies to a running migration; guarded by lock with window
    private long maxBandwidth;
    private long downtimeLimitMs;
    private volatile MigrationConfig tuned; // the latest parameters, for those read while running
    private volatile String error;
    private volatile long startNs;
    private volatile long setupMs = -1;
    private volatile long downtimeMs = -1;
    private volatile long totalMs = -1;
    private volatile long expectedDowntimeMs;
    private volatile long remainingBytes;
    private volatile long bytesAtStop = -1;
    private volatile long bytesAtPostcopy = -1;
    private volatile long pagesReleased;         // release-ram
    private long nextReleasePing = 0x100;        // release-ram batch PINGs, above QEMU's own values (1-4, 0x42)
    private volatile boolean pausedByUs;
    private RunState cprBefore;  // CPR modes: how the guest ran before it stopped at the start; null otherwise
    private long cprStoppedNs;
    private volatile boolean postcopyRequested; // migrate-start-postcopy: switch once precopy-only state is out
    private boolean postcopyWhenStuck;          // set before start
    private volatile boolean inPostcopy;        // past the switch: the destination may run the guest
    private volatile PageRequests pageRequests; // capability postcopy-ram
    private long passesReported; // only the migration thread reads and writes it
    /** Set under the lock once the outcome is decided; a later cancel changes nothing. */
    private boolean ending;
    private Thread thread;
    private final QmpDialect dialect;
    private final boolean scratch = CodeWarmUp.onWarmUpThread(); // a warm-up's: no JFR events

    /**
     * A migration of {@code machine} with {@code config} (capabilities and parameters as they are now), QEMU 7.2's
     * statuses, sending its events to {@code events}; nothing happens before {@link #start}. Applications migrate
     * through {@link MigrationController#migrate}, which applies QEMU's checks first.
     */
    Migration(Machine machine, MigrationConfig config, Consumer<MigrationEvent> events) {
        this(machine, config, QmpDialect.QEMU_7_2, events);
    }

    /** {@code dialect}: whose statuses it goes through (10.0 passes through device at every switchover). */
    Migration(Machine machine, MigrationConfig config, QmpDialect dialect, Consumer<MigrationEvent> events) {
        this.dialect = dialect;
        this.machine = machine;
        this.config = config;
        this.state = new StatusMachine(MigrationStatus.Side.SOURCE, events);
        this.ram = StandardSections.of(machine).ram().freshCounters(); // statistics start from zero at each migrate
        this.expectedDowntimeMs = config.downtimeLimitMs();
        this.maxBandwidth = config.maxBandwidth();
        this.downtimeLimitMs = config.downtimeLimitMs();
        this.tuned = config;
    }

    /**
     * Takes the parameters QEMU reads while a migration runs from {@code changed}, as its
     * migrate-set-parameters does: max-bandwidth and downtime-limit (an operator raises them to make a
     * migration converge), auto-converge's throttle parameters (read at each dirty-rate period) and
     * xbzrle-cache-size (the cache is replaced, empty, before the next pass). Every
     * other parameter and every capability stays as the migration started with.
     */
    void retune(MigrationConfig changed) {
        tuned = changed;
        if (config.has(MigrationCapability.XBZRLE)) {
            StandardSections.of(machine).ram().resizeXbzrleCache(changed.longValue(MigrationParameter.XBZRLE_CACHE_SIZE));
        }
        synchronized (lock) {
            maxBandwidth = changed.maxBandwidth();
            downtimeLimitMs = changed.downtimeLimitMs();
            TransferWindow w = window;
            if (w != null) { // in postcopy, max-postcopy-bandwidth is the limit
                w.retune(inPostcopy ? changed.longValue(MigrationParameter.MAX_POSTCOPY_BANDWIDTH) : maxBandwidth,
                        downtimeLimitMs, changed.longValue(MigrationParameter.AVAIL_SWITCHOVER_BANDWIDTH));
            }
        }
    }

    /**
     * migrate-start-postcopy: switch to postcopy at the next iteration whose precopy-only state fits the
     * threshold (RAM is all postcopy-capable). A migration with less left than the threshold completes as
     * precopy, as in QEMU. The caller checked that postcopy-ram is on.
     */
    void startPostcopy() {
        postcopyRequested = true;
    }

    /**
     * When a migration with postcopy-ram switches by itself ({@link MigrationController.Builder#postcopyWhenStuck}):
     * after two passes in a row that each left at least {@value #STUCK_SHARE_PERCENT}% of what the pass before
     * left, with more left than the switchover threshold, the guest dirties memory as fast as the link sends it,
     * and precopy would never end.
     */
    public static final String POSTCOPY_WHEN_STUCK_RULE = "two passes in a row each leave at least 90% of what the pass"
            + " before left, and more than the switchover threshold";
    private static final int STUCK_SHARE_PERCENT = 90;
    private static final int STUCK_PASSES = 2;

    void postcopyWhenStuck(boolean on) {
        this.postcopyWhenStuck = on;
    }

    /** fd:NAME: the socket a QMP client passed, adopted as the main channel (null for any other transport). */
    private MigrationChannel adopted;

    /** For {@code migrate fd:NAME}: the main channel is this one, already connected; set before {@link #start}. */
    void mainChannel(MigrationChannel connected) {
        this.adopted = connected;
    }

    /** Where tls-creds is looked up, when the first channel connects (as QEMU does); set before {@link #start}. */
    private dev.livemig.transport.tls.UserObjects objects = new dev.livemig.transport.tls.UserObjects();
    /** The TLS every channel runs, once resolved; null for plain channels. */
    private dev.livemig.transport.tls.MigrationTls tls;

    /** The process's objects, which the tls-creds parameter names. */
    void objects(dev.livemig.transport.tls.UserObjects objects) {
        this.objects = objects;
    }

    /**
     * Connects one channel to {@code uri}, with its TLS handshake done when the migration runs TLS (the credentials
     * are looked up first: wrong ones fail before any connection).
     */
    private MigrationChannel connect(MigrationUri uri) throws MigrationException {
        var t = tls();
        MigrationChannel raw = Transports.connect(uri);
        return t == null ? raw : secured(t, raw, uri);
    }

    /** The TLS of this migration's channels, looked up once (QEMU's migration_tls_get_creds); null without tls-creds. */
    private dev.livemig.transport.tls.MigrationTls tls() throws MigrationException {
        if (tls == null) {
            tls = config.resolveTls(objects, dev.livemig.transport.tls.TlsEndpoint.CLIENT);
        }
        return tls;
    }

    /**
     * A TLS session over {@code raw} whose handshake completed. A failed handshake closes {@code raw} and fails with
     * the reason, in QEMU's words where it has them.
     */
    private static MigrationChannel secured(dev.livemig.transport.tls.MigrationTls tls, MigrationChannel raw, MigrationUri uri)
            throws MigrationException {
        try {
            return tls.connect(raw, uri, dev.livemig.transport.HandshakeGate.DEFAULT_TIMEOUT);
        } catch (IOException e) {
            MigrationChannel.closeQuietly(raw);
            throw new MigrationException(e.getMessage(), e);
        }
    }

    /** Starts migrating to {@code uri}. Refused when blocked or when this object was already started. */
    void start(MigrationUri uri) throws MigrationException {
        start(uri, null);
    }

    /**
     * Starts migrating to {@code uri}, with {@code cpr} as the cpr channel (QEMU's {@code channels} argument; null
     * for none), which parameter mode cpr-transfer needs and any other mode ignores, as QEMU does.
     */
    void start(MigrationUri uri, MigrationUri cpr) throws MigrationException {
        MigrationConfig.validated(config);
        boolean cprTransfer = config.text(MigrationParameter.MODE).equals(MigrationConfig.CPR_TRANSFER);
        if (cprTransfer && uri instanceof MigrationUri.File) { // QEMU's order: the transport, then the cpr channel
            throw new MigrationException("Migration requires streamable transport (eg unix)");
        }
        if (cprTransfer && cpr == null) {
            throw new MigrationException("missing 'cpr' migration channel");
        }
        if (!CodeWarmUp.onWarmUpThread()) {
            CodeWarmUp.migrationBegins();
        }
        config.checkDirectIo();
        if (config.has(MigrationCapability.MAPPED_RAM)) {
            checkMappedRam(uri);
        } else if (config.has(MigrationCapability.MULTIFD) && !(uri instanceof MigrationUri.Tcp || uri instanceof MigrationUri.Unix)) {
            throw new MigrationException("multifd is not supported by current protocol (" + uri + "): it needs tcp or unix");
        }
        if (config.cprMode()) { // QEMU's migrate_prepare, in its order
            String conflict = config.has(MigrationCapability.POSTCOPY_RAM) ? "postcopy"
                    : config.has(MigrationCapability.BACKGROUND_SNAPSHOT) ? "background snapshot" : null;
            if (conflict != null) {
                throw new MigrationException("Cannot use " + conflict + " with CPR");
            }
        }
        if (config.has(MigrationCapability.POSTCOPY_RAM)) {
            checkPostcopy();
        }
        if (config.has(MigrationCapability.POSTCOPY_PREEMPT) && !(uri instanceof MigrationUri.Tcp || uri instanceof MigrationUri.Unix)) {
            throw new MigrationException("postcopy-preempt needs a second connection to the destination: a tcp or unix"
                    + " transport, not " + uri);
        }
        SaveVm.checkNotBlocked(machine);
        if (cprTransfer) {
            handedOver = dev.livemig.cpr.CprHandover.memoryOf(machine.ramBlocks());
            if (!(cpr instanceof MigrationUri.Unix unix)) {
                throw new MigrationException("bad cpr channel address; must be unix");
            }
            cprChannel = unix.path();
        }
        synchronized (lock) {
            if (thread != null) {
                throw new MigrationException("this migration was already started: status=" + state.status().qemuName());
            }
            startNs = System.nanoTime();
            state.move(MigrationStatus.SETUP);
            thread = Thread.ofPlatform().name("livemig-mig-src").start(() -> run(uri));
        }
    }

    /** What livemig's postcopy source does not carry yet, refused before anything is sent. */
    private void checkPostcopy() throws MigrationException {
        for (MigrationCapability c : java.util.List.of(MigrationCapability.MULTIFD, MigrationCapability.COMPRESS)) {
            if (config.has(c)) {
                throw new MigrationException("postcopy-ram together with " + c.qmpName() + " is not built yet in livemig");
            }
        }
        for (RamBlock b : machine.ramBlocks()) {
            if (b.pageSize() != RamBlock.TARGET_PAGE_SIZE) {
                throw new MigrationException("postcopy-ram with RAM block " + b.name() + " of " + b.pageSize()
                        + "-byte host pages is not built yet in livemig (4096-byte pages only)");
            }
        }
    }

    /**
     * mapped-ram (§17) places every page at its offset of a file (with multifd, by multifd-channels writer threads
     * instead of sockets). QEMU's refusals, with its texts.
     */
    private void checkMappedRam(MigrationUri uri) throws MigrationException {
        if (!(uri instanceof MigrationUri.File)) {
            throw new MigrationException(dev.livemig.ram.MappedRamWriter.NEEDS_A_FILE);
        }
        if (config.has(MigrationCapability.MULTIFD) && !config.text(MigrationParameter.MULTIFD_COMPRESSION).equals("none")) {
            throw new MigrationException("Cannot use compression with mapped-ram");
        }
    }

    /**
     * QEMU's qmp_migrate for a URI it cannot use: the migration is set up and fails at once, never touching the
     * machine. {@code why} becomes its error-desc (null for none, as for QEMU's unknown protocol).
     */
    void failBeforeStart(String why) {
        synchronized (lock) {
            if (thread != null || state.status() != MigrationStatus.NONE) {
                throw new IllegalStateException("this migration was already started: status=" + state.status().qemuName());
            }
            startNs = System.nanoTime();
            state.move(MigrationStatus.SETUP);
            error = why;
            totalMs = 0;
            ending = true;
            state.move(MigrationStatus.FAILED);
        }
        ended();
    }

    /** The end, for whoever waits: the latch, then the completion stage with the final figures. */
    private void ended() {
        finished.countDown();
        completion.complete(info());
    }

    /** Completes with the final {@link MigrationInfo} (completed, failed or cancelled) when the migration has ended. */
    public java.util.concurrent.CompletionStage<MigrationInfo> completion() {
        return completion.minimalCompletionStage();
    }

    /**
     * Cancels the migration if it still runs and waits for its end, so that leaving a try-with-resources
     * block never leaves a migration running (the source keeps running, as after any cancel).
     */
    @Override
    public void close() {
        boolean started;
        synchronized (lock) {
            started = thread != null;
        }
        if (!started) {
            return;
        }
        cancel();
        completion.join(); // uninterruptible: a closed migration has ended
    }

    /** The current status (none before {@link #start}); any thread. */
    public MigrationStatus status() {
        return state.status();
    }

    /** Asks the migration to stop; the source keeps running. Returns at once; see {@link #awaitFinished}. */
    public void cancel() {
        synchronized (lock) {
            if (state.status().isFinal() || state.status() == MigrationStatus.NONE || cancelRequested || ending) {
                return;
            }
            cancelRequested = true;
            if (state.status() != MigrationStatus.CANCELLING) {
                state.move(MigrationStatus.CANCELLING);
            }
        }
        continued.countDown();
        MigrationChannel.closeQuietly(channel); // unblocks a write stuck on a slow or dead peer
        MigrationChannel.closeQuietly(preemptChannel);
        MultifdSender m = multifd;
        if (m != null) {
            m.abort();
        }
    }

    /**
     * migrate-continue: leaves pre-switchover. QEMU's rule: refused unless {@code from} is the current status;
     * in any status but pre-switchover it then succeeds and does nothing (QEMU eats such a post before it
     * pauses, so it never releases a later pre-switchover).
     */
    public void continueFrom(MigrationStatus from) throws MigrationException {
        MigrationStatus now = state.status();
        if (from != now) {
            throw new MigrationException("Migration not in expected state: " + now.qemuName());
        }
        if (now == MigrationStatus.PRE_SWITCHOVER) {
            continued.countDown();
        }
    }

    /** Waits until the migration has ended; returns its final status (or the current one on timeout). */
    public MigrationStatus awaitFinished(long timeout, TimeUnit unit) throws InterruptedException {
        finished.await(timeout, unit);
        return state.status();
    }

    /**
     * query-migrate's figures now, from any thread: times, RAM statistics (none in setup), the throttle while it
     * runs, compression and xbzrle statistics when those capabilities are on, the error once failed.
     */
    public MigrationInfo info() {
        MigrationStatus s = state.status();
        TransferWindow w = window;
        long total = s.isFinal() && totalMs >= 0 ? totalMs : (System.nanoTime() - startNs) / 1_000_000;
        long transferred = ram.transferred.get();
        long stop = bytesAtStop;
        long postcopyFrom = bytesAtPostcopy;
        PageRequests requests = pageRequests;
        var stats = new MigrationInfo.RamStats(transferred, s == MigrationStatus.COMPLETED ? 0 : remainingBytes,
                machine.ramSize(), ram.duplicate.get(), ram.normal.get(), ram.normalBytes(), ram.dirtyPagesRate.get(),
                mbps(s, w, transferred, total), ram.dirtySyncCount.get(), stop < 0 ? transferred : stop,
                stop < 0 ? 0 : (postcopyFrom < 0 ? transferred : postcopyFrom) - stop, w == null ? 0 : w.pagesPerSecond(),
                ram.multifdBytes.get(), ram.dirtySyncMissedZeroCopy.get(), requests == null ? 0 : requests.received(),
                postcopyFrom < 0 ? 0 : transferred - postcopyFrom);
        return new MigrationInfo(s, total, Math.max(setupMs, 0), downtimeMs, expectedDowntimeMs,
                s == MigrationStatus.SETUP || s == MigrationStatus.NONE ? null : stats, s == MigrationStatus.FAILED ? error : null,
                s.isFinal() ? 0 : machine.cpuThrottle().percentage(),
                config.has(MigrationCapability.COMPRESS) ? new MigrationInfo.CompressionStats(ram.compressedPages.get(), ram.compressBusy.get(),
                        ram.compressedBytes.get()) : null,
                config.has(MigrationCapability.XBZRLE) ? new MigrationInfo.XbzrleStats(ram.xbzrleCacheSize.get(),
                        ram.xbzrleBytes.get(), ram.xbzrlePages.get(), ram.xbzrleCacheMiss.get(), ram.xbzrleOverflow.get()) : null);
    }

    /** While running, the last window's rate; once completed, QEMU's whole-migration figure (§7.10). */
    private double mbps(MigrationStatus s, TransferWindow w, long transferred, long totalMs) {
        if (s == MigrationStatus.COMPLETED) {
            long ms = Math.max(1, totalMs - Math.max(setupMs, 0));
            return transferred * 8.0 / ms / 1000.0;
        }
        return w == null ? 0 : w.mbps();
    }

    private void run(MigrationUri uri) {
        target = uri;
        SaveVm save = null;
        SourceReturnPath rp = null;
        MigrationStatus end;
        String why = null;
        try {
            if (config.has(MigrationCapability.ZERO_COPY_SEND) && (!(uri instanceof MigrationUri.Tcp)
                    || !machine.hostFeatures().allows(dev.livemig.machine.KernelFeature.MSG_ZEROCOPY))) {
                throw new MigrationException(dev.livemig.transport.ZeroCopySocketChannel.UNAVAILABLE); // as QEMU, once started
            }
            if (config.has(MigrationCapability.COMPRESS) && !machine.compat().compressReadable()) {
                throw new MigrationException("capability compress cannot be used with machine type " + machine.name()
                        + ": QEMU removed it in 9.1, and no destination of that machine type reads compressed pages");
            }
            var setupEvent = new MigrationSetupEvent();
            setupEvent.begin();
            if (handedOver != null) {
                // the application's descriptors are asked for now, as the state goes: their owners stop adding any
                descriptorOwners = dev.livemig.cpr.CprHandover.ownersIn(machine);
                var all = new java.util.ArrayList<>(handedOver);
                all.addAll(dev.livemig.cpr.CprHandover.ownedBy(descriptorOwners));
                if (!dev.livemig.cpr.CprHandover.handOver(cprChannel, all, () -> cancelRequested)) {
                    throw new Cancelled(); // the new process maps the memory and listens: only then the main channel
                }
            }
            channel = adopted == null ? connect(uri) : tls() == null ? adopted : secured(tls(), adopted, uri);
            if (cancelRequested) {
                throw new Cancelled();
            }
            if (config.cprMode()) {
                stopForCpr();
            }
            boolean mappedRam = config.has(MigrationCapability.MAPPED_RAM);
            // mapped-ram skips over the holes of zero pages: it writes to the file itself
            var out = mappedRam ? new StreamWriter(channel.seekable().orElseThrow(
                    () -> new MigrationException(dev.livemig.ram.MappedRamWriter.NEEDS_A_FILE))) : new StreamWriter(channel);
            if (config.has(MigrationCapability.MULTIFD) && !mappedRam) {
                multifd = connectMultifd(uri);
            }
            if (config.has(MigrationCapability.POSTCOPY_PREEMPT) && machine.compat().preemptAtSetup()) {
                preemptChannel = connect(uri); // 7.2's destination takes the second connection for it
            }
            StandardSections.of(machine).ram().options(config.ramOptions());
            StandardSections.of(machine).ram().ignoreShared(config.has(MigrationCapability.X_IGNORE_SHARED));
            StandardSections.of(machine).ram().cprTransfer(handedOver != null);
            StandardSections.of(machine).ram().pagesThrough(multifd);
            StandardSections.of(machine).ram().directIo(mappedRam && config.booleanValue(MigrationParameter.DIRECT_IO)
                    ? ((MigrationUri.File) uri).path() : null);
            StandardSections.of(machine).ram().mappedRamOutgoing(!mappedRam ? 0
                    : config.has(MigrationCapability.MULTIFD) ? (int) config.longValue(MigrationParameter.MULTIFD_CHANNELS) : 1);
            boolean postcopy = config.has(MigrationCapability.POSTCOPY_RAM);
            pageRequests = postcopy ? new PageRequests(machine.ramBlocks()) : null;
            StandardSections.of(machine).ram().postcopy(pageRequests, config.has(MigrationCapability.RELEASE_RAM));
            save = new SaveVm(machine, out);
            save.header(config.has(MigrationCapability.VALIDATE_UUID), mappedRam);
            if (config.has(MigrationCapability.RETURN_PATH) || postcopy) { // postcopy always has one (§12.1)
                if (!channel.isBidirectional()) {
                    throw new MigrationException((postcopy ? "postcopy-ram" : "return-path")
                            + " needs a transport that carries data back; " + uri + " does not");
                }
                rp = new SourceReturnPath(channel, pageRequests);
                rp.start();
                MigrationCommands.write(out, new MigrationCommand.OpenReturnPath());
                MigrationCommands.write(out, new MigrationCommand.Ping(1));
            }
            if (postcopy) {
                long summary = 0;
                for (RamBlock b : machine.ramBlocks()) {
                    summary |= b.pageSize();
                }
                MigrationCommands.write(out, new MigrationCommand.PostcopyAdvise(summary, RamBlock.TARGET_PAGE_SIZE));
            }
            save.setup();
            out.flush();
            emitPasses(); // QEMU's first dirty sync, and its MIGRATION_PASS 1, happen during setup
            setupMs = (System.nanoTime() - startNs) / 1_000_000;
            setupEvent.end();
            if (!scratch && setupEvent.shouldCommit()) {
                setupEvent.target = uri.toString();
                setupEvent.capabilities = String.join(",", config.capabilityNames());
                setupEvent.commit();
            }
            synchronized (lock) {
                checkCancelled();
                state.move(MigrationStatus.ACTIVE);
            }
            if (iterate(save, out, rp)) {
                postcopy(save, out, rp);
            } else {
                switchover(save, out, rp);
            }
            end = MigrationStatus.COMPLETED;
        } catch (Cancelled c) {
            end = MigrationStatus.CANCELLED;
        } catch (MigrationException | RuntimeException e) {
            end = cancelRequested ? MigrationStatus.CANCELLED : MigrationStatus.FAILED;
            why = e.getMessage() == null ? e.toString() : e.getMessage();
            if (e instanceof RuntimeException) { // a livemig bug: query-migrate shows the message, the log the stack
                LOG.log(System.Logger.Level.ERROR, "outgoing migration failed unexpectedly", e);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            end = MigrationStatus.FAILED;
            why = "interrupted";
        }
        machine.cpuThrottle().stop(); // QEMU lifts auto-converge's throttle however the migration ended
        if (end != MigrationStatus.COMPLETED) {
            descriptorOwners.forEach(dev.livemig.machine.DescriptorOwner::handOverAbandoned); // this process carries on
        }
        // release everything before announcing the end: a caller that sees a final status may close the machine
        if (save != null) {
            save.cleanup();
        }
        StandardSections.of(machine).ram().mappedRamOutgoing(0);
        StandardSections.of(machine).ram().ignoreShared(false);
        StandardSections.of(machine).ram().cprTransfer(false);
        StandardSections.of(machine).ram().directIo(null);
        MigrationChannel.closeQuietly(channel);
        MigrationChannel.closeQuietly(adopted); // fd:NAME's, even when the migration ended before it became the channel
        MigrationChannel.closeQuietly(preemptChannel);
        if (multifd != null) {
            multifd.close();
        }
        StandardSections.of(machine).ram().pagesThrough(null);
        StandardSections.of(machine).ram().postcopy(null);
        if (rp != null) {
            try {
                rp.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        try {
            finish(end, why);
        } finally {
            ended();
        }
    }

    /**
     * The precopy loop: iterate within the rate limit until what is left fits the downtime limit. Where QEMU
     * switches over as soon as it fits, livemig keeps going while each pass still halves what is left (the
     * guest dirties memory slower than it is sent), up to a few extra passes: the pause then moves a few
     * pages instead of a whole downtime-limit's worth. Returns true to switch to postcopy instead: after
     * migrate-start-postcopy, once what only precopy can carry fits the threshold while more than the threshold
     * is left (QEMU's rule; with less left it completes as precopy).
     */
    private boolean iterate(SaveVm save, StreamWriter out, SourceReturnPath rp) throws MigrationException, InterruptedException {
        TransferWindow w;
        synchronized (lock) {
            w = new TransferWindow(maxBandwidth, downtimeLimitMs,
                    tuned.longValue(MigrationParameter.AVAIL_SWITCHOVER_BANDWIDTH), System.nanoTime());
            window = w;
        }
        long periodsSeen = ram.periods.get();
        AutoConverge autoConverge = config.has(MigrationCapability.AUTO_CONVERGE) ? new AutoConverge(machine.cpuThrottle(), () -> tuned) : null;
        long previousExact = -1;
        int extraPasses = 0;
        long lastPassLeft = -1; // postcopyWhenStuck: what the previous pass left
        int stuckPasses = 0;
        while (true) {
            checkCancelled();
            checkReturnPath(rp);
            long threshold = w.threshold();
            LiveStateHandler.Pending pending = save.pending(false);
            if (postcopyRequested && pageRequests != null && pending.total() >= threshold && pending.mustPrecopy() <= threshold && switchoverAllowed(rp)) {
                remainingBytes = pending.total();
                return true;
            }
            // in the extra passes, sync only once the previous pass is out, so passes compare like with like
            // nothing left is always worth a sync, even before any bandwidth (hence threshold) is known: a guest that
            // sends nothing (CPR with its RAM kept in place) would otherwise iterate with empty sections
            boolean exact = (pending.total() < threshold || pending.total() == 0) && (previousExact < 0 || pending.total() == 0);
            if (exact) {
                pending = save.pending(true); // sync dirty tracking: the exact amount decides
                if (postcopyWhenStuck && pageRequests != null && !postcopyRequested) {
                    boolean stuck = lastPassLeft >= 0 && pending.total() > threshold
                            && pending.total() * 100 >= lastPassLeft * STUCK_SHARE_PERCENT;
                    stuckPasses = stuck ? stuckPasses + 1 : 0;
                    lastPassLeft = pending.total();
                    if (stuckPasses >= STUCK_PASSES) {
                        LOG.log(System.Logger.Level.INFO, "precopy does not converge ({0} bytes left after {1} passes): switching to postcopy",
                                pending.total(), ram.dirtySyncCount.get());
                        postcopyRequested = true; // the check at the top of the next round switches
                    }
                }
            }
            emitPasses();
            long periods = ram.periods.get();
            if (autoConverge != null && periods != periodsSeen) {
                autoConverge.periodEnded(ram.transferred.get(), ram.lastPeriodDirtyPages.get() * RamBlock.TARGET_PAGE_SIZE);
            }
            periodsSeen = periods;
            remainingBytes = pending.total();
            if (exact && pending.total() <= threshold) {
                boolean stillShrinking = previousExact < 0 || pending.total() <= previousExact / 2;
                boolean smallEnough = pending.total() <= threshold / 10;
                if ((smallEnough || !stillShrinking || extraPasses >= MAX_EXTRA_PASSES) && switchoverAllowed(rp)) {
                    return false;
                }
                previousExact = pending.total();
                extraPasses++;
            }
            long budget = w.budget();
            long now = System.nanoTime();
            if (budget == 0) {
                TimeUnit.NANOSECONDS.sleep(w.untilWindowEnd(now));
            } else {
                long before = out.offset() + ram.multifdBytes.get();
                long pagesBefore = ram.normal.get() + ram.duplicate.get();
                save.iterate(budget == Long.MAX_VALUE ? 0 : budget);
                out.flush();
                w.account(out.offset() + ram.multifdBytes.get() - before, ram.normal.get() + ram.duplicate.get() - pagesBefore);
            }
            if (w.roll(System.nanoTime()) && w.bandwidthBytesPerMs() > 0 && ram.dirtyPagesRate.get() > 0) {
                expectedDowntimeMs = (long) (remainingBytes / w.bandwidthBytesPerMs());
            }
        }
    }

    /**
     * Opens multifd-channels more connections to the destination after the main one (QEMU 7.2's destination
     * takes the first connection as the main channel) and starts a sender on each.
     */
    private MultifdSender connectMultifd(MigrationUri uri) throws MigrationException {
        int n = (int) config.longValue(MigrationParameter.MULTIFD_CHANNELS);
        String method = config.text(MigrationParameter.MULTIFD_COMPRESSION);
        int level = (int) config.longValue(method.equals("zstd") ? MigrationParameter.MULTIFD_ZSTD_LEVEL
                : MigrationParameter.MULTIFD_ZLIB_LEVEL);
        boolean zeroCopy = config.has(MigrationCapability.ZERO_COPY_SEND);
        return new MultifdSender(n, id -> {
            checkCancelled();
            return zeroCopy ? Transports.connectZeroCopy(uri) : connect(uri);
        }, new MultifdSender.Compression(method, level), zeroCopy,
                machine.uuid().map(dev.livemig.savevm.ConfigurationRecord::bytes).orElse(new byte[16])).recordsEvents(!scratch);
    }

    private boolean switchoverAllowed(SourceReturnPath rp) {
        return !config.has(MigrationCapability.SWITCHOVER_ACK) || rp.switchoverAcked();
    }

    /**
     * QEMU's migration_completion: stops the guest first (run state finish-migrate; STOP only when it was
     * running), then with pause-before-switchover waits in pre-switchover and goes on through device, and
     * writes the final state. Without that capability the status stays active until completed in 7.2's dialect,
     * and goes through device in 10.0's.
     */
    private void switchover(SaveVm save, StreamWriter out, SourceReturnPath rp) throws MigrationException, InterruptedException {
        var event = new SwitchoverEvent();
        event.begin();
        long stopNs = cprBefore == null ? System.nanoTime() : cprStoppedNs;
        Stopped stopped = stopGuest(null, MigrationStatus.DEVICE);
        StandardSections.of(machine).globalState().store(stopped.before().isRunning() ? RunState.RUNNING : stopped.before());
        save.complete();
        long writtenNs = System.nanoTime();
        out.flush();
        emitPasses(); // the final sync of the stopped guest is a pass too (QEMU's ram_save_complete)
        try {
            if (rp != null) {
                channel.shutdownOutput(); // the destination sees the end; its SHUT still comes back
            } else if (channel.connection().isPresent()) {
                channel.shutdownOutput();
                awaitDestinationClose();
            } else {
                channel.close(); // for exec: also waits for the command and reports its failure
            }
        } catch (IOException e) {
            throw new MigrationException("closing " + channel.describe() + " failed: " + e.getMessage(), e);
        }
        long sentNs = System.nanoTime();
        if (rp != null) {
            long shut = rp.awaitShut(SHUT_TIMEOUT_MS);
            if (shut != 0) {
                throw new MigrationException(shut < 0 ? "destination did not confirm the load"
                        + (rp.failure() == null ? " within " + SHUT_TIMEOUT_MS + " ms" : ": " + rp.failure())
                        : "destination failed to load the state (SHUT status " + shut + ")");
            }
        }
        long endNs = System.nanoTime();
        downtimeMs = (endNs - stopNs) / 1_000_000;
        commit(event, stopNs, stopped, writtenNs, sentNs, endNs);
    }

    /**
     * Without a return path the destination's only word is how it closes the connection once it is done: after
     * reading the whole stream (end of stream here) or with part of it unread, which is a refusal (the kernel
     * resets the connection: an error here). A source that wrote everything into its socket buffers before the
     * destination refused would otherwise complete. Waits up to {@link #DESTINATION_CLOSE_TIMEOUT_MS}; a
     * destination that keeps the connection longer is taken at its last byte written, as QEMU takes it.
     */
    private void awaitDestinationClose() throws MigrationException {
        MigrationChannel c = channel;
        Thread watchdog = Thread.ofVirtual().start(() -> {
            try {
                Thread.sleep(DESTINATION_CLOSE_TIMEOUT_MS);
                MigrationChannel.closeQuietly(c); // ends the read below
            } catch (InterruptedException e) {
                // the destination closed in time
            }
        });
        try {
            ByteBuffer back = ByteBuffer.allocate(512);
            int n;
            while ((n = c.read(back.clear())) >= 0) {
                if (n > 0) { // a destination without return path says nothing, unless it refuses on a unix socket
                    throw new MigrationException("the destination answered on a stream without return path (byte 0x"
                            + Integer.toHexString(back.get(0) & 0xff) + "): it refused the migration");
                }
            }
        } catch (AsynchronousCloseException e) {
            // no word within the wait: complete at the last byte written
        } catch (IOException e) {
            throw new MigrationException("the destination closed the connection without reading the whole stream ("
                    + e.getMessage() + "): it refused the migration", e);
        } finally {
            watchdog.interrupt();
            MigrationChannel.closeQuietly(c);
        }
    }

    /** When the guest stopped and when it went on from pre-switchover (at once without it), and how it ran before. */
    private record Stopped(RunState before, long stoppedNs, long continuedNs) {
    }

    /**
     * The first steps of every switchover: the guest stops (finish-migrate; STOP only when it was running), after
     * {@code first} is announced when not null (7.2's postcopy-active); with pause-before-switchover the status
     * goes pre-switchover until migrate-continue and then {@code afterPause}; without it, device where the dialect
     * passes through it (current QEMU does at every switchover). A cancel already decided does not stop the guest.
     */
    private Stopped stopGuest(MigrationStatus first, MigrationStatus afterPause) throws InterruptedException {
        RunState before;
        synchronized (lock) {
            checkCancelled();
            if (first != null) {
                state.move(first);
            }
            if (cprBefore == null) {
                before = machine.pause(RunState.FINISH_MIGRATE);
                pausedByUs = before.isRunning();
            } else {
                before = cprBefore; // stopped at the start already
            }
        }
        if (pausedByUs && cprBefore == null) {
            state.emit(new MigrationEvent.Stop(System.currentTimeMillis()));
        }
        long stoppedNs = cprBefore == null ? System.nanoTime() : cprStoppedNs;
        if (cprBefore == null) {
            bytesAtStop = ram.transferred.get();
        }
        if (config.has(MigrationCapability.PAUSE_BEFORE_SWITCHOVER)) {
            synchronized (lock) {
                checkCancelled();
                state.move(MigrationStatus.PRE_SWITCHOVER);
            }
            continued.await();
            synchronized (lock) {
                checkCancelled();
                state.move(afterPause);
            }
        } else if (dialect.passesThroughDevice()) {
            synchronized (lock) {
                checkCancelled();
                state.move(MigrationStatus.DEVICE);
            }
        }
        return new Stopped(before, stoppedNs, System.nanoTime());
    }

    /**
     * CPR modes (QEMU's migrate_fd_connect): the guest stops before anything is sent, so the one pass that follows
     * carries all of it and no dirty page is ever tracked; the switchover does not stop it again, and the downtime
     * runs from here.
     */
    private void stopForCpr() {
        RunState before;
        synchronized (lock) {
            checkCancelled();
            before = machine.pause(RunState.FINISH_MIGRATE);
            pausedByUs = before.isRunning();
            cprBefore = before;
        }
        if (pausedByUs) {
            state.emit(new MigrationEvent.Stop(System.currentTimeMillis()));
        }
        bytesAtStop = ram.transferred.get();
        cprStoppedNs = System.nanoTime();
    }

    /** The switchover's JFR event: its parts add up to the downtime (the destination's load is 0 in postcopy). */
    private void commit(SwitchoverEvent event, long stopNs, Stopped stopped, long writtenNs, long sentNs, long endNs) {
        event.end();
        if (!scratch && event.shouldCommit()) {
            event.downtime = endNs - stopNs;
            event.stop = stopped.stoppedNs() - stopNs;
            event.preSwitchover = stopped.continuedNs() - stopped.stoppedNs();
            event.finalState = writtenNs - stopped.continuedNs();
            event.transfer = sentNs - writtenNs;
            event.destinationLoad = endNs - sentNs;
            event.bytesAfterStop = ram.transferred.get() - bytesAtStop;
            event.commit();
        }
    }

    /**
     * The switch to postcopy (QEMU's postcopy_start, format reference §12.3): the guest stops, the state that
     * cannot wait goes out (END sections of handlers without postcopy, the discard commands of the pages still
     * to send, then the package: LISTEN, every device's FULL section, PING(3), RUN), and the destination runs the
     * guest from there while the rest of RAM follows in {@link #postcopyPhase}. Downtime ends once the package
     * is out. From the switch on the source never restarts the guest by itself: the destination may run it.
     */
    private void postcopy(SaveVm save, StreamWriter out, SourceReturnPath rp) throws MigrationException, InterruptedException {
        if (config.has(MigrationCapability.POSTCOPY_PREEMPT) && preemptChannel == null) {
            connectPreempt(rp); // while the guest still runs here
        }
        var event = new SwitchoverEvent();
        event.begin();
        long stopNs = System.nanoTime();
        boolean announceFirst = !config.has(MigrationCapability.PAUSE_BEFORE_SWITCHOVER) && !dialect.passesThroughDevice();
        Stopped stopped = stopGuest(announceFirst ? MigrationStatus.POSTCOPY_ACTIVE : null, // 7.2 announces it first
                dialect.passesThroughDevice() ? MigrationStatus.DEVICE : MigrationStatus.POSTCOPY_ACTIVE);
        RunState before = stopped.before();
        StandardSections.of(machine).globalState().store(before.isRunning() ? RunState.RUNNING : before);
        inPostcopy = true;
        save.completeBeforePostcopy();
        for (MigrationCommand.PostcopyRamDiscard discard : StandardSections.of(machine).ram().startPostcopy()) {
            MigrationCommands.write(out, discard);
        }
        if (preemptChannel != null) {
            saver().preemptTo(new StreamWriter(preemptChannel, 64 << 10));
        }
        MigrationCommands.write(out, new MigrationCommand.Ping(2));
        if (releaseRam()) {
            saver().closeSwitchBatch(2); // what was sent before the switch goes once PING(2) is answered
        }
        StreamWriter pkg = StreamWriter.inMemory();
        MigrationCommands.write(pkg, new MigrationCommand.PostcopyListen());
        save.saveDevices(pkg);
        MigrationCommands.write(pkg, new MigrationCommand.Ping(3));
        MigrationCommands.write(pkg, new MigrationCommand.PostcopyRun());
        byte[] packaged = pkg.toByteArray();
        if (packaged.length > MAX_PACKAGED_BYTES) {
            throw new MigrationException("device state of " + packaged.length + " bytes does not fit a postcopy package (at most "
                    + MAX_PACKAGED_BYTES + ", QEMU's limit)");
        }
        long writtenNs = System.nanoTime();
        MigrationCommands.write(out, new MigrationCommand.Packaged(packaged.length));
        out.bytes(packaged);
        MigrationCommands.write(out, new MigrationCommand.Ping(4));
        out.flush();
        long sentNs = System.nanoTime();
        downtimeMs = (sentNs - stopNs) / 1_000_000;
        synchronized (lock) {
            checkCancelled();
            if (state.status() != MigrationStatus.POSTCOPY_ACTIVE) {
                state.move(MigrationStatus.POSTCOPY_ACTIVE);
            }
        }
        commit(event, stopNs, stopped, writtenNs, sentNs, sentNs);
        postcopyPhase(save, out, rp);
    }

    /**
     * After the switch: the rest of RAM within max-postcopy-bandwidth (0: unlimited), pages the destination asks
     * for first and whatever the rate limit says; then END sections and EOF (no trailer), and the destination's
     * SHUT.
     */
    private void postcopyPhase(SaveVm save, StreamWriter out, SourceReturnPath rp) throws MigrationException, InterruptedException {
        TransferWindow w;
        synchronized (lock) {
            w = new TransferWindow(tuned.longValue(MigrationParameter.MAX_POSTCOPY_BANDWIDTH), downtimeLimitMs, System.nanoTime());
            window = w;
        }
        bytesAtPostcopy = ram.transferred.get();
        Link link = new Link(out, rp);
        while (true) {
            try {
                sendRest(save, link, w);
                return;
            } catch (DestinationFailed e) {
                throw e;
            } catch (MigrationException e) {
                // the link failed: the destination holds what it received, this side the rest (§12.6)
                link = pauseUntilRecovered(save, link, e.getMessage());
            }
        }
    }

    /** The main channel of a postcopy phase and its return path: replaced by each recovery. */
    private record Link(StreamWriter out, SourceReturnPath rp) {
    }

    /** SHUT with a non-zero status: the destination failed to load; nothing to recover. */
    private static final class DestinationFailed extends MigrationException {
        DestinationFailed(String message) {
            super(message);
        }
    }

    /** The rest of RAM, then END sections, EOF and the destination's SHUT, on {@code link}. */
    private void sendRest(SaveVm save, Link link, TransferWindow w) throws MigrationException, InterruptedException {
        StreamWriter out = link.out();
        SourceReturnPath rp = link.rp();
        while (true) {
            checkCancelled();
            checkReturnPath(rp);
            remainingBytes = save.pending(false).total();
            if (remainingBytes == 0 && !pageRequests.waiting()) {
                break;
            }
            long budget = w.budget();
            long before = out.offset();
            long pagesBefore = ram.normal.get() + ram.duplicate.get();
            if (budget == 0) {
                if (pageRequests.await(w.untilWindowEnd(System.nanoTime()))) {
                    save.iteratePostcopy(-1); // the rate limit is spent, but a guest thread waits
                }
            } else {
                save.iteratePostcopy(budget == Long.MAX_VALUE ? 0 : budget);
            }
            out.flush();
            w.account(out.offset() - before, ram.normal.get() + ram.duplicate.get() - pagesBefore);
            w.roll(System.nanoTime());
            if (releaseRam()) {
                if (saver().closeBatch(nextReleasePing)) {
                    MigrationCommands.write(out, new MigrationCommand.Ping((int) nextReleasePing++));
                    out.flush();
                }
                pagesReleased += saver().releaseConfirmed(rp::ponged);
            }
        }
        save.completePostcopy();
        if (preemptChannel != null && machine.compat().preemptAtSetup()) {
            saver().endPreempt(); // a 7.2 destination's preempt thread ends at this EOS
        }
        emitPasses();
        try {
            channel.shutdownOutput(); // the destination sees the end; its SHUT still comes back
        } catch (IOException e) {
            throw new MigrationException("closing " + channel.describe() + " failed: " + e.getMessage(), e);
        }
        long shut = rp.awaitShut(SHUT_TIMEOUT_MS);
        if (shut == 0 && releaseRam()) {
            pagesReleased += saver().releaseAll(); // SHUT(0): the destination holds everything
        }
        if (shut > 0) {
            throw new DestinationFailed("destination failed to load the state (SHUT status " + shut + ")");
        }
        if (shut != 0) {
            throw new MigrationException("destination did not confirm the end of postcopy"
                    + (rp.failure() == null ? " within " + SHUT_TIMEOUT_MS + " ms" : ": " + rp.failure()));
        }
    }

    /**
     * A cut link in postcopy (format reference §12.6): postcopy-paused, the guest paused here and its state
     * whole, until migrate resume=true names where the destination listens again (its migrate-recover). Then
     * postcopy-recover: a new main channel without header, RECV_BITMAP for every block, the pages the destination
     * lacks marked to send, the preempt channel again, POSTCOPY_RESUME, and postcopy-active once RESUME_ACK
     * comes. A failure on the way pauses again; only cancel ends it.
     */
    private Link pauseUntilRecovered(SaveVm save, Link broken, String reason) throws InterruptedException {
        while (true) {
            MigrationChannel.closeQuietly(channel);
            MigrationChannel.closeQuietly(preemptChannel);
            preemptChannel = null;
            synchronized (lock) {
                checkCancelled();
                state.move(MigrationStatus.POSTCOPY_PAUSED);
            }
            LOG.log(System.Logger.Level.WARNING, "postcopy paused: {0}", reason);
            try {
                broken.rp().join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw e;
            }
            MigrationUri uri = awaitResumeTarget();
            synchronized (lock) {
                checkCancelled();
                state.move(dialect.recoversThroughSetup() ? MigrationStatus.POSTCOPY_RECOVER_SETUP : MigrationStatus.POSTCOPY_RECOVER);
            }
            SourceReturnPath rp = null;
            try {
                channel = connect(uri);
                if (dialect.recoversThroughSetup()) {
                    synchronized (lock) {
                        checkCancelled();
                        state.move(MigrationStatus.POSTCOPY_RECOVER); // connected: the handshake runs
                    }
                }
                var out = new StreamWriter(channel);
                rp = new SourceReturnPath(channel, pageRequests);
                var sizes = new java.util.LinkedHashMap<String, Long>();
                for (RamBlock b : machine.ramBlocks()) {
                    sizes.put(b.name(), (b.targetPages() + 63) / 64 * 8);
                }
                rp.expectBitmaps(sizes);
                rp.start();
                for (String block : sizes.keySet()) {
                    MigrationCommands.write(out, new MigrationCommand.RecvBitmap(block));
                }
                out.flush();
                long deadline = System.nanoTime() + SHUT_TIMEOUT_MS * 1_000_000;
                while (rp.bitmaps().size() < sizes.size()) {
                    checkCancelled();
                    checkReturnPath(rp);
                    if (System.nanoTime() > deadline) {
                        throw new MigrationException("postcopy recovery: the destination sent " + rp.bitmaps().size()
                                + " of " + sizes.size() + " received bitmaps within " + SHUT_TIMEOUT_MS + " ms");
                    }
                    Thread.sleep(1);
                }
                saver().resumeFrom(rp.bitmaps());
                save.continueOn(out);
                if (config.has(MigrationCapability.POSTCOPY_PREEMPT)) {
                    preemptChannel = connect(uri); // after the main one, as the destination expects
                    saver().preemptTo(new StreamWriter(preemptChannel, 64 << 10));
                }
                MigrationCommands.write(out, new MigrationCommand.PostcopyResume());
                out.flush();
                if (!rp.awaitResumeAck(SHUT_TIMEOUT_MS)) {
                    throw new MigrationException("postcopy recovery: no RESUME_ACK from the destination"
                            + (rp.failure() == null ? " within " + SHUT_TIMEOUT_MS + " ms" : ": " + rp.failure()));
                }
                synchronized (lock) {
                    checkCancelled();
                    state.move(MigrationStatus.POSTCOPY_ACTIVE);
                }
                LOG.log(System.Logger.Level.INFO, "postcopy resumed on {0}", uri);
                return new Link(out, rp);
            } catch (MigrationException e) {
                reason = "recovery on " + uri + " failed: " + e.getMessage();
                if (rp != null) {
                    broken = new Link(broken.out(), rp);
                }
            }
        }
    }

    /** The next migrate resume=true, checking for cancel while it waits. */
    private MigrationUri awaitResumeTarget() throws InterruptedException {
        while (true) {
            checkCancelled();
            MigrationUri uri = resumeTargets.poll(100, java.util.concurrent.TimeUnit.MILLISECONDS);
            if (uri != null) {
                return uri;
            }
        }
    }

    /**
     * migrate with resume=true (format reference §12.6): reconnects a paused postcopy to {@code uri}, where the
     * destination's migrate-recover listens. Returns at once; the status goes to postcopy-recover, then
     * postcopy-active (or back to postcopy-paused). QEMU's refusals and words.
     */
    public void resumePostcopy(MigrationUri uri) throws MigrationException {
        synchronized (lock) {
            if (state.status() != MigrationStatus.POSTCOPY_PAUSED) {
                throw new MigrationException("Cannot resume if there is no paused migration");
            }
            if (releaseRam()) {
                throw new MigrationException("Postcopy recovery cannot work when release-ram capability is set");
            }
            if (!(uri instanceof MigrationUri.Tcp || uri instanceof MigrationUri.Unix)) {
                throw new MigrationException("postcopy recovery needs a tcp or unix transport, not " + uri);
            }
            resumeTargets.add(uri);
        }
    }

    /** migrate-pause on the source: cuts the link in postcopy on purpose; both ends then pause. */
    public void pausePostcopy() throws MigrationException {
        synchronized (lock) {
            MigrationStatus s = state.status();
            if (s != MigrationStatus.POSTCOPY_ACTIVE && s != MigrationStatus.POSTCOPY_RECOVER) {
                throw new MigrationException("migrate-pause is currently only supported during postcopy-active or postcopy-recover state");
            }
        }
        MigrationChannel.cut(channel);
        MigrationChannel.cut(preemptChannel);
    }

    /**
     * postcopy-preempt in current QEMU's form: the second connection is made at the switch, once the destination
     * answered PING(1) (it has taken the main channel, so it takes this one as the preempt channel).
     */
    private void connectPreempt(SourceReturnPath rp) throws MigrationException, InterruptedException {
        long deadline = System.nanoTime() + SHUT_TIMEOUT_MS * 1_000_000;
        while (!rp.ponged(1)) {
            checkCancelled();
            checkReturnPath(rp);
            if (System.nanoTime() > deadline) {
                throw new MigrationException("postcopy-preempt: the destination did not answer PING(1) within "
                        + SHUT_TIMEOUT_MS + " ms; no channel to connect");
            }
            Thread.sleep(1);
        }
        preemptChannel = connect(target);
    }

    /** Capability release-ram with postcopy: sent pages go back to the system once the destination confirmed them. */
    private boolean releaseRam() {
        return pageRequests != null && config.has(MigrationCapability.RELEASE_RAM);
    }

    private dev.livemig.ram.RamSaver saver() {
        return StandardSections.of(machine).ram().outgoing();
    }

    /**
     * Whether release-ram handed part of the guest's RAM back to the system after the destination confirmed it:
     * the guest can then no longer run here, whatever became of the migration.
     */
    public boolean ramReleased() {
        return pagesReleased > 0;
    }

    /** One MIGRATION_PASS per dirty-bitmap sync not yet reported, numbered as QEMU's dirty-sync-count. */
    private void emitPasses() {
        long syncs = ram.dirtySyncCount.get();
        for (long pass = passesReported + 1; pass <= syncs; pass++) {
            state.emit(new MigrationEvent.Pass(pass, System.currentTimeMillis()));
            var event = new MigrationPassEvent();
            if (!scratch && event.shouldCommit()) {
                event.pass = pass;
                event.transferred = ram.transferred.get();
                event.remaining = remainingBytes;
                event.commit();
            }
        }
        passesReported = Math.max(passesReported, syncs);
    }

    private void finish(MigrationStatus end, String why) {
        MigrationStatus outcome;
        synchronized (lock) {
            // A cancel that raced with the last bytes still wins, as in QEMU (its COMPLETED cmpxchg fails); from
            // here on cancel() is a no-op, so the outcome decided now is the one announced.
            outcome = end == MigrationStatus.COMPLETED && cancelRequested ? MigrationStatus.CANCELLED : end;
            ending = true;
        }
        // the source keeps running after a failed or cancelled switchover; QEMU announces a failure first (in
        // migration_completion) and then restarts the guest, while cancelled follows the restart (cleanup bh)
        // after the switch to postcopy the destination may run the guest: the source never restarts it by itself
        boolean restart = outcome != MigrationStatus.COMPLETED && pausedByUs && !inPostcopy;
        pausedByUs = false;
        if (outcome == MigrationStatus.COMPLETED) {
            machine.pause(RunState.POSTMIGRATE);
        } else if (!restart) {
            // a guest that was paused already stays paused, as postmigrate (QEMU's migration_iteration_finish)
            machine.enterIf(RunState.FINISH_MIGRATE, RunState.POSTMIGRATE);
        }
        if (restart && outcome == MigrationStatus.CANCELLED) {
            restartGuest();
        }
        if (inPostcopy && outcome != MigrationStatus.COMPLETED && why != null) {
            why += pagesReleased > 0
                    ? "; the guest stays paused here, and cannot run here any more: release-ram handed " + pagesReleased
                            + " of its pages back once the destination had them"
                    : "; the guest stays paused here, whole, since the destination may already run it (cont resumes it here)";
        }
        synchronized (lock) {
            error = outcome == MigrationStatus.CANCELLED ? null : why;
            totalMs = (System.nanoTime() - startNs) / 1_000_000;
            if (outcome == MigrationStatus.CANCELLED && state.status() != MigrationStatus.CANCELLING) {
                state.move(MigrationStatus.CANCELLING);
            }
            state.move(outcome);
        }
        if (restart && outcome == MigrationStatus.FAILED) {
            restartGuest();
        }
    }

    private void restartGuest() {
        machine.resume();
        state.emit(new MigrationEvent.Resume(System.currentTimeMillis()));
    }

    private void checkCancelled() {
        if (cancelRequested) {
            throw new Cancelled();
        }
    }

    private void checkReturnPath(SourceReturnPath rp) throws MigrationException {
        if (rp != null && rp.failure() != null) {
            throw new MigrationException(rp.failure());
        }
    }




    /** Unwinds the migration thread after cancel. */
    private static final class Cancelled extends RuntimeException {
        Cancelled() {
            super("cancelled", null, false, false);
        }
    }
}
