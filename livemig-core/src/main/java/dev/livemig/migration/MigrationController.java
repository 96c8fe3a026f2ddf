package dev.livemig.migration;

import dev.livemig.machine.DirtyTracker;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RunState;
import dev.livemig.transport.HandshakeGate;
import dev.livemig.transport.MigrationUri;
import dev.livemig.wire.MigrationException;

import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * The migration lifecycle of one machine, in both directions, as QEMU's migration core keeps it: the
 * configuration the next migration starts with, the current (or last) outgoing {@link Migration}, the
 * {@link IncomingMigration} of a destination, and QEMU's rules for which request is allowed in which
 * migration status and run state. QMP ({@code MachineCommands}), the command line and embedding applications
 * all go through it; it knows nothing of QMP's JSON.
 *
 * <p>Every request is decided under one lock, so requests from several threads see one order. Refusals are
 * {@link MigrationRefusedException}s with QEMU's texts and leave everything as it was.
 *
 * <p>Events: the listener gets what QEMU announces. MIGRATION statuses and passes only for a migration that
 * started with the {@code events} capability (a destination's, with the capability as it is when the status
 * changes, as QEMU reads it; and the destination's "setup" as it starts listening, which QEMU 7.2 sends
 * regardless); STOP and RESUME always, when the run state really changed. Listeners run on the thread that
 * caused the event (a migration thread, or the caller's) and must return quickly.
 */
public final class MigrationController implements AutoCloseable {
    /** The URI schemes QEMU's qmp_migrate knows (file: is livemig's own in 7.2); any other is "not a valid protocol". */
    private static final Pattern KNOWN_PROTOCOL = Pattern.compile("(tcp|unix|vsock|rdma|exec|fd|file):");

    private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(5);

    private final Machine machine;
    private final QmpDialect dialect;
    private final Consumer<MigrationEvent> events;
    private final DirtyRateCalculation dirtyRate;
    private final Object lock = new Object();

    // a destination's side (QEMU's -incoming); null uri with destination = defer
    private final boolean destination;
    private final MigrationUri incomingUri;
    private final HandshakeGate gate;
    private dev.livemig.cpr.CprIncoming cprIncoming; // guarded by lock; taken by the one incoming migration
    private final NamedDescriptors namedDescriptors = new NamedDescriptors();
    private final dev.livemig.transport.tls.UserObjects objects;
    private final CompletableFuture<IncomingMigration> incomingStarted = new CompletableFuture<>();
    private volatile boolean autostart;
    private final boolean postcopyWhenStuck;

    private volatile MigrationConfig config;                       // changed under lock; read by event forwarding
    private Migration migration;                                   // guarded by lock
    private IncomingMigration incoming;                            // guarded by lock

    private MigrationController(Builder b) {
        this.machine = b.machine;
        this.dialect = b.dialect != null ? b.dialect : QmpDialect.forMachine(b.machine.compat());
        this.events = b.events;
        this.config = b.config;
        this.destination = b.destination;
        this.incomingUri = b.incomingUri;
        this.gate = b.gate;
        this.cprIncoming = b.cprIncoming;
        this.objects = b.objects != null ? b.objects : new dev.livemig.transport.tls.UserObjects();
        this.autostart = b.autostart;
        this.postcopyWhenStuck = b.postcopyWhenStuck;
        this.dirtyRate = new DirtyRateCalculation(machine, DirtyTracker::automatic);
    }

    /**
     * Starts building the controller of {@code machine} (not null): a source with QEMU's defaults unless told
     * otherwise.
     */
    public static Builder builder(Machine machine) {
        return new Builder(machine);
    }

    /** How a controller starts: its configuration, dialect, event listener, and whether it is a destination. */
    public static final class Builder {
        private final Machine machine;
        private MigrationConfig config = MigrationConfig.defaults();
        private QmpDialect dialect;
        private Consumer<MigrationEvent> events = e -> { };
        private boolean destination;
        private MigrationUri incomingUri;
        private boolean autostart;
        private HandshakeGate gate = HandshakeGate.DEFAULT;
        private dev.livemig.cpr.CprIncoming cprIncoming;
        private boolean postcopyWhenStuck;
        private dev.livemig.transport.tls.UserObjects objects;

        private Builder(Machine machine) {
            this.machine = Objects.requireNonNull(machine, "machine");
        }

        /** Capabilities and parameters before any change (a command line's --capability etc.). */
        public Builder config(MigrationConfig initial) {
            this.config = Objects.requireNonNull(initial, "config");
            return this;
        }

        /** Whose statuses, capabilities and parameters; by default the machine type's ({@link QmpDialect#forMachine}). */
        public Builder dialect(QmpDialect dialect) {
            this.dialect = dialect;
            return this;
        }

        /**
         * The process's objects (TLS credentials, authz) that tls-creds and tls-authz name, created beforehand (a
         * command line's -object); by default an empty set, which QMP's object-add fills.
         */
        public Builder objects(dev.livemig.transport.tls.UserObjects objects) {
            this.objects = Objects.requireNonNull(objects, "objects");
            return this;
        }

        /** Where announced events go (see the class comment for which). */
        public Builder events(Consumer<MigrationEvent> listener) {
            this.events = Objects.requireNonNull(listener, "listener");
            return this;
        }

        /**
         * With capability postcopy-ram, switch a migration to postcopy by itself once precopy stops converging
         * ({@link Migration#POSTCOPY_WHEN_STUCK_RULE}), as if migrate-start-postcopy had been issued then. Off by
         * default, as in QEMU, which switches only when asked.
         */
        public Builder postcopyWhenStuck(boolean on) {
            this.postcopyWhenStuck = on;
            return this;
        }

        /**
         * Makes the machine a destination (QEMU's {@code -incoming}): it listens on {@code uri} at
         * {@link #startIncoming()}, or with a null {@code uri} waits for {@link #migrateIncoming} ({@code defer}).
         * {@code autostart} false keeps it paused after the load (QEMU's -S); stop and cont change that until
         * the load ends. Only connections that pass {@code gate} are taken.
         */
        public Builder destination(MigrationUri uri, boolean autostart, HandshakeGate gate) {
            this.destination = true;
            this.incomingUri = uri;
            this.autostart = autostart;
            this.gate = Objects.requireNonNull(gate, "gate");
            return this;
        }

        /**
         * A destination that is the new process of a cpr-transfer (QEMU's {@code -incoming} of channel-type cpr):
         * {@code cpr} holds the CPR state that came, whose memory the machine's RAM blocks map. The incoming
         * migration then expects no page, and closes the cpr connection once it listens (the old process's cue).
         */
        public Builder cprIncoming(dev.livemig.cpr.CprIncoming cpr) {
            this.cprIncoming = Objects.requireNonNull(cpr, "cpr");
            return this;
        }

        /**
         * Checks the configuration against the dialect; a destination's machine, which must not run, enters
         * inmigrate. Nothing listens yet.
         */
        public MigrationController build() throws MigrationException {
            if (cprIncoming != null && !destination) {
                throw new MigrationException("a cpr channel's state is for a destination: the new process of a cpr-transfer");
            }
            var c = new MigrationController(this);
            MigrationConfig.validated(config, c.dialect);
            if (destination) {
                if (machine.runState().isRunning()) {
                    throw new MigrationException("the destination machine must not be running: machine=" + machine.name());
                }
                machine.enter(RunState.INMIGRATE);
            }
            return c;
        }
    }

    /** The machine whose migrations this controller decides. */
    public Machine machine() {
        return machine;
    }

    /** Whose statuses, capabilities, parameters and refusal texts this controller follows; fixed when built. */
    public QmpDialect dialect() {
        return dialect;
    }

    /** The configuration the next migration starts with. */
    public MigrationConfig config() {
        return config;
    }

    /** The migrations as they are now: the current or last outgoing one, and a destination's incoming one. */
    public record Migrations(Optional<Migration> outgoing, Optional<IncomingMigration> incoming) {
    }

    /** The current (or last) outgoing migration and a destination's incoming one, read together. */
    public Migrations migrations() {
        synchronized (lock) {
            return new Migrations(Optional.ofNullable(migration), Optional.ofNullable(incoming));
        }
    }

    /** A destination's incoming migration once it has started; fails when the controller closes first or is no destination. */
    public CompletionStage<IncomingMigration> incomingStarted() {
        if (!destination) {
            return CompletableFuture.failedStage(new MigrationException("this machine is not a migration destination"));
        }
        return incomingStarted.minimalCompletionStage();
    }

    /**
     * A destination given a URI starts listening (QEMU's {@code -incoming URI} once the monitor is up); one
     * given none ({@code defer}) and a source do nothing.
     */
    public void startIncoming() throws MigrationException {
        if (destination && incomingUri != null) {
            synchronized (lock) {
                announceIncomingSetup();
                listenIncoming(incomingUri);
            }
        }
    }

    /**
     * QEMU's qmp_stop: STOP only when the machine actually stops; stopping a machine that does not run
     * (paused, or held in finish-migrate by a switchover) changes nothing. While an incoming migration is
     * awaited or loading, stop means "stay paused when it completes".
     */
    public void stop() {
        synchronized (lock) {
            if (machine.runState() == RunState.INMIGRATE && autostartAfterIncoming(false)) {
                return;
            }
            // only from running: a switchover that moved the guest to finish-migrate meanwhile keeps it
            if (machine.enterIf(RunState.RUNNING, RunState.PAUSED)) {
                events.accept(new MigrationEvent.Stop(System.currentTimeMillis()));
            }
        }
    }

    /**
     * QEMU's qmp_cont, in its order: a guest that needs a reset cannot continue, a suspended one stays as it
     * is, and one in finish-migrate belongs to the switchover that is sending its final state (resuming it
     * would leave two live copies). While an incoming migration is awaited or loading, cont means "resume
     * when it completes".
     */
    public void cont() throws MigrationRefusedException {
        synchronized (lock) {
            refuseAfterFailedLoad();
            if (migration != null && migration.ramReleased()) {
                throw new MigrationRefusedException("the guest's RAM here went back to the system as the destination took it"
                        + " (release-ram in postcopy): it cannot run here");
            }
            while (true) {
                RunState s = machine.runState();
                if (s == RunState.INMIGRATE && autostartAfterIncoming(true)) {
                    return;
                }
                if (s.needsReset()) {
                    throw new MigrationRefusedException("Resetting the Virtual Machine is required");
                }
                if (s == RunState.FINISH_MIGRATE) {
                    throw new MigrationRefusedException("Migration is not finalized yet");
                }
                if (s == RunState.SUSPENDED || s.isRunning()) {
                    return;
                }
                if (machine.enterIf(s, RunState.RUNNING)) {
                    events.accept(new MigrationEvent.Resume(System.currentTimeMillis()));
                    return;
                }
                // a migration changed the run state between the read and the resume: decide on the new one
            }
        }
    }

    /**
     * A destination whose load failed or was cancelled holds no complete guest (its RAM was discarded), so it
     * must neither run nor migrate out. livemig's own rule: QEMU's destination exits instead.
     */
    private void refuseAfterFailedLoad() throws MigrationRefusedException {
        if (incoming != null && (incoming.status() == MigrationStatus.FAILED || incoming.status() == MigrationStatus.CANCELLED)) {
            throw new MigrationRefusedException("the incoming migration " + incoming.status().qemuName()
                    + ": this destination holds no complete guest; start a new destination");
        }
    }

    /** False when it is too late: the load has just ended and the request applies to the machine itself. */
    private boolean autostartAfterIncoming(boolean on) {
        if (incoming != null) {
            return incoming.setAutostart(on);
        }
        if (destination) {
            autostart = on;
            return true;
        }
        return false;
    }

    /**
     * QEMU's migrate-incoming, with its checks in its order: one incoming migration per process, and only on
     * a machine started to receive one. A URI that cannot be listened on leaves the request possible again.
     */
    public IncomingMigration migrateIncoming(String uri) throws MigrationRefusedException {
        synchronized (lock) {
            if (incoming != null) {
                throw new MigrationRefusedException("The incoming migration has already been started");
            }
            if (!destination || machine.runState() != RunState.INMIGRATE) {
                throw new MigrationRefusedException("'-incoming' was not specified on the command line");
            }
            try {
                announceIncomingSetup(); // before the URI is even parsed, as QEMU
                return listenIncoming(MigrationUri.parse(uri));
            } catch (MigrationException e) {
                throw new MigrationRefusedException(e.getMessage());
            }
        }
    }

    /**
     * QEMU's qemu_start_incoming_migration announces MIGRATION "setup" before it listens, whether or not the
     * listen then works (7.2: whether or not the events capability is on); the status itself stays none
     * until the source connects.
     */
    private void announceIncomingSetup() {
        if (dialect.announcesIncomingSetupWithoutEvents() || config.has(MigrationCapability.EVENTS)) {
            events.accept(new MigrationEvent.StatusChanged(MigrationStatus.SETUP, System.currentTimeMillis()));
        }
    }

    /**
     * The TLS an incoming migration's channels run: server credentials and the authz, looked up when it starts to
     * listen (QEMU looks at each connection, and drops every one while they are wrong: refusing at once says it
     * sooner). Postcopy's page server runs in another process, where a TLS session cannot follow.
     */
    private dev.livemig.transport.tls.MigrationTls incomingTls(MigrationUri uri) throws MigrationException {
        if (config.has(MigrationCapability.POSTCOPY_RAM)) {
            throw new MigrationException("postcopy-ram with TLS is not built in livemig as a destination: its page server"
                    + " serves faults from another process, which cannot carry the TLS session");
        }
        if (uri instanceof MigrationUri.File) {
            throw new MigrationException("TLS needs a channel that carries data both ways; " + uri + " does not");
        }
        return config.resolveTls(objects, dev.livemig.transport.tls.TlsEndpoint.SERVER);
    }

    private IncomingMigration listenIncoming(MigrationUri uri) throws MigrationException {
        if (config.has(MigrationCapability.POSTCOPY_RAM)) {
            checkPostcopyDestination(uri);
        }
        // QEMU reads the events capability as each status changes; on a destination it may change meanwhile
        // (migrate-set-capabilities looks only at the outgoing status)
        if (cprIncoming != null && uri instanceof MigrationUri.File) {
            throw new MigrationException("Migration requires streamable transport (eg unix)"); // QEMU's, for cpr-transfer
        }
        var in = new IncomingMigration(machine, config, autostart, dialect, e -> forward(config, e));
        dev.livemig.transport.MigrationChannel adopted = null;
        try {
            if (uri instanceof MigrationUri.Fd fd) {
                adopted = adopt(fd);
                in.mainChannel(adopted);
            }
            in.listen(uri, config.tls() ? gate.with(incomingTls(uri)) : gate, cprIncoming);
        } catch (MigrationException e) {
            dev.livemig.transport.MigrationChannel.closeQuietly(adopted);
            throw e;
        }
        cprIncoming = null;
        incoming = in;
        incomingStarted.complete(in);
        return in;
    }

    /** What a postcopy destination needs of this JVM and host, refused before anything listens. */
    private void checkPostcopyDestination(MigrationUri uri) throws MigrationException {
        if (!(uri instanceof MigrationUri.Tcp || uri instanceof MigrationUri.Unix)) {
            throw new MigrationConfigException("postcopy-ram needs a tcp or unix migration channel, not " + uri);
        }
        if (config.has(MigrationCapability.MULTIFD)) {
            throw new MigrationConfigException("postcopy-ram together with multifd is not built yet in livemig");
        }
        if (!dev.livemig.linux.SocketChannelDescriptor.available()) {
            throw new MigrationConfigException("postcopy-ram on a destination needs this JVM started with "
                    + dev.livemig.linux.SocketChannelDescriptor.OPTION + " (its page server takes over the stream's socket)");
        }
        try (var probe = dev.livemig.linux.Userfaultfd.openMissing()) {
            probe.features();
        } catch (RuntimeException e) {
            throw new MigrationConfigException("postcopy-ram on a destination needs userfaultfd: " + e.getMessage());
        }
    }

    private boolean migrationActive() {
        return migration != null && !migration.status().isFinal();
    }

    /**
     * QEMU's migrate: starts an outgoing migration to {@code uri} with the current configuration and returns
     * it at once. A URI QEMU sets a migration up for and then rejects leaves that migration failed, with the
     * reason as its error (query-migrate shows it), as well as being refused.
     */
    public Migration migrate(String uri) throws MigrationRefusedException {
        synchronized (lock) {
            Migration m = next();
            MigrationUri target;
            try {
                target = MigrationUri.parse(uri);
            } catch (MigrationException e) {
                // QEMU 7.2 sets the migration up before it looks at the URI, so a bad one leaves it failed
                boolean unknownProtocol = !KNOWN_PROTOCOL.matcher(uri).lookingAt();
                if (unknownProtocol && !dialect.setsUpMigrationForUnknownProtocol()) {
                    throw new MigrationRefusedException("unknown migration protocol: " + uri);
                }
                m.failBeforeStart(unknownProtocol ? null : e.getMessage());
                migration = m;
                throw new MigrationRefusedException(unknownProtocol ? "Parameter 'uri' expects a valid migration protocol" : e.getMessage());
            }
            return start(m, target);
        }
    }

    /**
     * QEMU's migrate with the {@code channels} argument: the main channel, and the cpr channel that parameter mode
     * cpr-transfer needs (any other mode ignores it, as QEMU does).
     */
    public Migration migrate(dev.livemig.transport.MigrationChannels channels) throws MigrationRefusedException {
        synchronized (lock) {
            return start(next(), channels.main(), channels.cpr().orElse(null));
        }
    }

    /** fd:NAME: takes the named descriptor out of the list, as QEMU's monitor_get_fd, and makes the channel of it. */
    private dev.livemig.transport.MigrationChannel adopt(MigrationUri.Fd fd) throws MigrationException {
        var descriptor = namedDescriptors.take(fd.name()).orElseThrow(() -> new MigrationException(
                "File descriptor named '" + fd.name() + "' has not been found"));
        try {
            return dev.livemig.transport.Transports.adopt(descriptor, fd);
        } finally {
            descriptor.close(); // taken by the channel, or refused: closed either way
        }
    }

    /** The process's user-creatable objects (object-add): the credentials and authz that tls-creds and tls-authz name. */
    public dev.livemig.transport.tls.UserObjects objects() {
        return objects;
    }

    /** The descriptors QMP clients passed and named with getfd, which {@code migrate fd:NAME} takes. */
    public NamedDescriptors namedDescriptors() {
        return namedDescriptors;
    }

    /** {@link #migrate(String)} to a parsed URI. */
    public Migration migrate(MigrationUri uri) throws MigrationRefusedException {
        synchronized (lock) {
            return start(next(), uri);
        }
    }

    /** The next outgoing migration, not started, once QEMU's checks (in its order) allow one. */
    private Migration next() throws MigrationRefusedException {
        if (migrationActive()) {
            throw new MigrationRefusedException("There's a migration process in progress");
        }
        if (machine.runState() == RunState.INMIGRATE) {
            throw new MigrationRefusedException("Guest is waiting for an incoming migration");
        }
        refuseAfterFailedLoad();
        if (machine.runState() == RunState.POSTMIGRATE) {
            throw new MigrationRefusedException("Can't migrate the vm that was paused due to previous migration");
        }
        if (dirtyRate.trackingDirtyPages()) {
            // livemig's own limit: the measurement and the migration would both arm the same dirty tracking
            throw new MigrationRefusedException("the dirty rate is being measured in dirty-bitmap mode; migrate once query-dirty-rate says measured");
        }
        MigrationConfig started = config;
        var m = new Migration(machine, started, dialect, e -> forward(started, e));
        m.postcopyWhenStuck(postcopyWhenStuck);
        m.objects(objects);
        return m;
    }

    private Migration start(Migration m, MigrationUri target) throws MigrationRefusedException {
        return start(m, target, null);
    }

    /** Starts {@code m}; fd:NAME takes the named descriptor now, as QEMU's migrate does (a refused start closes it). */
    private Migration start(Migration m, MigrationUri target, MigrationUri cpr) throws MigrationRefusedException {
        dev.livemig.transport.MigrationChannel adopted = null;
        try {
            if (target instanceof MigrationUri.Fd fd) {
                adopted = adopt(fd);
                m.mainChannel(adopted);
            }
            m.start(target, cpr);
        } catch (MigrationException e) {
            dev.livemig.transport.MigrationChannel.closeQuietly(adopted);
            throw new MigrationRefusedException(e.getMessage());
        }
        migration = m;
        return m;
    }

    /**
     * QEMU's migrate-start-postcopy, with its checks and texts: postcopy-ram must be on, and a migration must have
     * been started; the running one switches at its next iteration (one without postcopy-ram, or one that has
     * ended, is not changed).
     */
    public void startPostcopy() throws MigrationRefusedException {
        synchronized (lock) {
            if (!config.has(MigrationCapability.POSTCOPY_RAM)) {
                throw new MigrationRefusedException("Enable postcopy with migrate_set_capability before the start of migration");
            }
            if (migration == null) {
                throw new MigrationRefusedException("Postcopy must be started after migration has been started");
            }
            migration.startPostcopy();
        }
    }

    /**
     * migrate with resume=true: a postcopy paused by a cut link reconnects to {@code uri}, where the destination's
     * migrate-recover listens (format reference §12.6).
     */
    public void resumePostcopy(String uri) throws MigrationRefusedException {
        Migration m;
        synchronized (lock) {
            m = migration;
        }
        if (m == null) {
            throw new MigrationRefusedException("Cannot resume if there is no paused migration");
        }
        try {
            m.resumePostcopy(MigrationUri.parse(uri));
        } catch (MigrationException e) {
            throw new MigrationRefusedException(e.getMessage());
        }
    }

    /**
     * migrate-pause: cuts the link of a migration in postcopy on purpose, the outgoing one here if there is one,
     * else the incoming one; both ends then go to postcopy-paused.
     */
    public void pausePostcopy() throws MigrationRefusedException {
        Migration m;
        IncomingMigration in;
        synchronized (lock) {
            m = migration;
            in = incoming;
        }
        try {
            if (m != null && !m.status().isFinal()) {
                m.pausePostcopy();
            } else if (in != null) {
                in.pausePostcopy();
            } else {
                throw new MigrationRefusedException("migrate-pause is currently only supported during postcopy-active or postcopy-recover state");
            }
        } catch (MigrationException e) {
            throw new MigrationRefusedException(e.getMessage());
        }
    }

    /** migrate-recover: the paused incoming postcopy listens on {@code uri} for the source's new channels. */
    public MigrationUri recoverPostcopy(String uri) throws MigrationRefusedException {
        IncomingMigration in;
        synchronized (lock) {
            in = incoming;
        }
        if (in == null) {
            throw new MigrationRefusedException("Migrate recover can only be run when postcopy is paused.");
        }
        try {
            return in.recover(MigrationUri.parse(uri));
        } catch (MigrationException e) {
            throw new MigrationRefusedException(e.getMessage());
        }
    }

    /** QEMU's migrate_cancel: nothing to do when no outgoing migration runs. */
    public void cancel() {
        Migration m;
        synchronized (lock) {
            m = migration;
        }
        if (m != null) {
            m.cancel();
        }
    }

    /** QEMU's migrate-continue: lets a migration paused in {@code from} (pre-switchover) go on. */
    public void continueFrom(MigrationStatus from) throws MigrationRefusedException {
        Migration m;
        synchronized (lock) {
            m = migration;
        }
        if (m == null) {
            // QEMU compares with the outgoing status, none before any migrate: continuing "none" succeeds
            if (from != MigrationStatus.NONE) {
                throw new MigrationRefusedException("Migration not in expected state: " + MigrationStatus.NONE.qemuName());
            }
            return;
        }
        try {
            m.continueFrom(from);
        } catch (MigrationException e) {
            throw new MigrationRefusedException(e.getMessage());
        }
    }

    /**
     * QEMU's migrate-set-capabilities: the changes applied to a copy, the result checked as one set (the
     * dialect's rules), then kept for the next migration. Refused while a migration runs.
     */
    public void setCapabilities(Map<MigrationCapability, Boolean> changes) throws MigrationRefusedException {
        synchronized (lock) {
            if (migrationActive()) {
                throw new MigrationRefusedException("There's a migration process in progress");
            }
            try {
                config = config.withCapabilities(changes, dialect);
            } catch (MigrationException e) {
                throw new MigrationRefusedException(e.getMessage());
            }
        }
    }

    /**
     * QEMU's migrate-set-parameters: every value checked, then all applied together (in the map's order, the
     * first bad one refused). As in QEMU they may change while a migration runs: max-bandwidth,
     * downtime-limit, xbzrle-cache-size and auto-converge's throttle parameters take effect in it at once
     * ({@link Migration#retune}), the others from the next migration.
     */
    public void setParameters(java.util.SequencedMap<MigrationParameter, String> values) throws MigrationRefusedException {
        synchronized (lock) {
            MigrationConfig next = config;
            for (var e : values.entrySet()) {
                try {
                    next = next.withParameter(e.getKey().qmpName(), e.getValue());
                } catch (MigrationException ex) {
                    throw new MigrationRefusedException(ex.getMessage());
                }
            }
            config = next;
            if (migrationActive()) {
                migration.retune(next);
            }
        }
    }

    /** QEMU's calc-dirty-rate: starts a measurement in the background; {@link #dirtyRate()} shows it. */
    public void calcDirtyRate(long calcTimeSec, Long samplePages, DirtyRateCalculation.Mode mode) throws MigrationRefusedException {
        synchronized (lock) {
            try {
                dirtyRate.start(calcTimeSec, samplePages, mode, migrationActive());
            } catch (MigrationException e) {
                throw new MigrationRefusedException(e.getMessage());
            }
        }
    }

    /** The last (or running) dirty-rate measurement, as query-dirty-rate shows it. */
    public DirtyRateCalculation.Info dirtyRate() {
        return dirtyRate.info();
    }

    /** Hands a migration's event on when QEMU would announce it (class comment). Called on the migration's thread. */
    private void forward(MigrationConfig started, MigrationEvent e) {
        boolean verbose = started.has(MigrationCapability.EVENTS);
        switch (e) {
            case MigrationEvent.StatusChanged s when verbose -> events.accept(s);
            case MigrationEvent.Pass p when verbose -> events.accept(p);
            case MigrationEvent.Stop s -> events.accept(s);
            case MigrationEvent.Resume r -> events.accept(r);
            default -> {
                // MIGRATION / MIGRATION_PASS without the events capability: QEMU stays silent
            }
        }
    }

    /** {@link #shutdown} with a timeout of 5 s per direction. */
    @Override
    public void close() {
        shutdown(CLOSE_TIMEOUT);
    }

    /**
     * Cancels a running migration in either direction and waits for it (up to {@code timeout} each), so that
     * the machine may be closed afterwards. Whoever waits for a destination that never started is told it will not.
     */
    public void shutdown(Duration timeout) {
        Migration m;
        IncomingMigration in;
        synchronized (lock) {
            m = migration;
            in = incoming;
        }
        dirtyRate.close();
        namedDescriptors.close();
        incomingStarted.completeExceptionally(new MigrationException("the controller closed before the incoming migration started"));
        try {
            if (in != null && !in.status().isFinal()) {
                in.cancel();
                in.awaitFinished(timeout.toMillis(), TimeUnit.MILLISECONDS);
            }
            if (m != null && !m.status().isFinal()) {
                m.cancel();
                m.awaitFinished(timeout.toMillis(), TimeUnit.MILLISECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
