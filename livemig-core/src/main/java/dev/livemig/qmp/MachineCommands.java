package dev.livemig.qmp;

import dev.livemig.json.Json;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RunState;
import dev.livemig.machine.DirtyTracker;
import dev.livemig.migration.IncomingMigration;
import dev.livemig.migration.Migration;
import dev.livemig.migration.MigrationCapability;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.migration.QmpDialect;
import dev.livemig.migration.MigrationEvent;
import dev.livemig.migration.MigrationParameter;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.ram.DirtyRateCalculation;
import dev.livemig.transport.MigrationUri;
import dev.livemig.wire.MigrationException;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import static dev.livemig.qmp.QmpCommand.Param.optional;
import static dev.livemig.qmp.QmpCommand.Param.required;

/**
 * The QMP commands of a machine, one table entry each: run state, migration control in both directions,
 * capabilities and parameters. Holds the configuration the next migration uses, the current or last
 * outgoing {@link Migration} and, on a destination, the {@link IncomingMigration}; all change only under
 * one lock, so commands from several clients see one order. Migration events of either direction become
 * QMP events: MIGRATION and MIGRATION_PASS only when that migration was started with the {@code events}
 * capability (QEMU's rule; the one exception, also QEMU's, is the destination's MIGRATION "setup" sent as it
 * starts listening), STOP and RESUME always. Which command is allowed in which migration status and run state
 * follows QEMU 7.2 (QmpMigrationStateRulesTest holds the table).
 */
final class MachineCommands {
    /** Where QMP events go (the server's broadcast). */
    @FunctionalInterface
    interface Events {
        void emit(String name, Json.Obj data, long timestampMillis);
    }

    /** QEMU commands in this area that livemig does not have; each answers that it is not built yet. */
    private static final List<String> NOT_BUILT = List.of("migrate-start-postcopy", "migrate-pause", "migrate-recover");

    /** The URI schemes QEMU 7.2's qmp_migrate knows (file: is livemig's own); any other is "not a valid protocol". */
    private static final java.util.regex.Pattern KNOWN_PROTOCOL = java.util.regex.Pattern.compile("(tcp|unix|vsock|rdma|exec|fd|file):");

    private final Machine machine;
    private final QmpDialect dialect;
    private final Events events;
    private final Runnable onQuit;
    private final Object lock = new Object();
    private final List<QmpCommand> table;
    private final IncomingSide incomingSide;                        // null: not a destination
    private final DirtyRateCalculation dirtyRate;
    private volatile MigrationConfig config;                       // changed under lock; read by event forwarding
    private Migration migration;                                   // guarded by lock
    private IncomingMigration incoming;                            // guarded by lock

    MachineCommands(Machine machine, MigrationConfig config, QmpDialect dialect, IncomingSide incomingSide, Events events,
                    Runnable onQuit) {
        this.machine = machine;
        this.dialect = dialect;
        this.config = config;
        this.incomingSide = incomingSide;
        this.events = events;
        this.onQuit = onQuit;
        this.dirtyRate = new DirtyRateCalculation(machine, DirtyTracker::automatic);
        this.table = buildTable();
    }

    /**
     * Starts the incoming migration at once when the server was given a URI (QEMU's {@code -incoming URI});
     * with {@code defer} it waits for migrate-incoming.
     */
    void startIncomingIfGiven() throws MigrationException {
        if (incomingSide != null && incomingSide.uri() != null) {
            synchronized (lock) {
                startIncoming(incomingSide.uri());
            }
        }
    }

    List<QmpCommand> table() {
        return table;
    }

    /** The dialect's QEMU version object, as query-version and the greeting give it. */
    Json.Obj version() {
        return Json.object()
                .put("qemu", Json.object().put("micro", dialect.micro()).put("minor", dialect.minor())
                        .put("major", dialect.major()).build())
                .put("package", "livemig").build();
    }

    private List<QmpCommand> buildTable() {
        List<QmpCommand> t = new ArrayList<>(List.of(
                new QmpCommand(QmpDispatcher.CAPABILITIES, List.of(optional("enable", QmpCommand.Type.ARRAY)), this::capabilities),
                QmpCommand.of("query-version", a -> version()),
                QmpCommand.of("query-commands", a -> queryCommands()),
                QmpCommand.of("query-status", a -> queryStatus()),
                QmpCommand.of("stop", a -> stop()),
                QmpCommand.of("cont", a -> cont()),
                QmpCommand.of("query-migrate", a -> queryMigrate()),
                new QmpCommand("migrate", List.of(required("uri", QmpCommand.Type.STRING),
                        optional("blk", QmpCommand.Type.BOOL), optional("inc", QmpCommand.Type.BOOL),
                        optional("detach", QmpCommand.Type.BOOL), optional("resume", QmpCommand.Type.BOOL)), this::migrate),
                QmpCommand.of("migrate_cancel", a -> cancel()),
                new QmpCommand("migrate-incoming", List.of(required("uri", QmpCommand.Type.STRING)), this::migrateIncoming),
                new QmpCommand("migrate-continue", List.of(required("state", QmpCommand.Type.STRING)), this::migrateContinue),
                new QmpCommand("migrate-set-capabilities", List.of(required("capabilities", QmpCommand.Type.ARRAY)), this::setCapabilities),
                QmpCommand.of("query-migrate-capabilities", a -> queryCapabilities()),
                new QmpCommand("migrate-set-parameters", parameterParams(dialect), this::setParameters),
                QmpCommand.of("query-migrate-parameters", a -> queryParameters()),
                new QmpCommand("calc-dirty-rate", List.of(required("calc-time", QmpCommand.Type.INT),
                        optional("sample-pages", QmpCommand.Type.INT), optional("mode", QmpCommand.Type.STRING)), this::calcDirtyRate),
                QmpCommand.of("query-dirty-rate", a -> dirtyRate.info().toJson()),
                QmpCommand.of("quit", a -> quit())));
        for (String name : NOT_BUILT) {
            // arguments are not checked: whatever they are, the command cannot run
            t.add(new QmpCommand(name, List.of(), new NotBuilt(name)));
        }
        return List.copyOf(t);
    }

    /** A command QEMU has and livemig lacks; refuses before looking at its arguments. */
    private record NotBuilt(String name) implements QmpCommand.Handler {
        @Override
        public Json handle(Json.Obj arguments) throws QmpException {
            throw QmpException.generic(name + " is not built yet in livemig");
        }
    }

    private static List<QmpCommand.Param> parameterParams(QmpDialect dialect) {
        List<QmpCommand.Param> ps = new ArrayList<>();
        for (MigrationParameter p : dialect.parameters()) {
            ps.add(optional(p.qmpName(), QmpCommand.Type.ANY)); // each is typed by setParameters
        }
        return ps;
    }

    private Json capabilities(Json.Obj args) throws QmpException {
        for (Json cap : args.array("enable")) {
            // livemig offers no QMP capabilities (no out-of-band execution)
            String name = cap instanceof Json.Str(String s) ? s : String.valueOf(cap);
            throw QmpException.generic("Capability '" + name + "' not available");
        }
        return empty();
    }

    private Json queryCommands() {
        List<Json> names = new ArrayList<>();
        for (QmpCommand c : table) {
            names.add(Json.object().put("name", c.name()).build());
        }
        return new Json.Arr(names);
    }

    private Json queryStatus() {
        RunState s = machine.runState();
        var b = Json.object().put("status", s.qemuName()).put("running", s.isRunning());
        return (dialect.reportsSinglestep() ? b.put("singlestep", false) : b).build();
    }

    /**
     * QEMU's qmp_stop: STOP only when the machine actually stops; stopping a machine that does not run
     * (paused, or held in finish-migrate by a switchover) changes nothing. While an incoming migration is
     * awaited or loading, stop means "stay paused when it completes".
     */
    private Json stop() {
        synchronized (lock) {
            if (machine.runState() == RunState.INMIGRATE && autostartAfterIncoming(false)) {
                return empty();
            }
            // only from running: a switchover that moved the guest to finish-migrate meanwhile keeps it
            if (machine.enterIf(RunState.RUNNING, RunState.PAUSED)) {
                events.emit("STOP", empty(), System.currentTimeMillis());
            }
        }
        return empty();
    }

    /**
     * QEMU's qmp_cont, in its order: a guest that needs a reset cannot continue, a suspended one stays as it
     * is, and one in finish-migrate belongs to the switchover that is sending its final state (resuming it
     * would leave two live copies). While an incoming migration is awaited or loading, cont means "resume
     * when it completes".
     */
    private Json cont() throws QmpException {
        synchronized (lock) {
            refuseAfterFailedLoad();
            while (true) {
                RunState s = machine.runState();
                if (s == RunState.INMIGRATE && autostartAfterIncoming(true)) {
                    return empty();
                }
                if (s.needsReset()) {
                    throw QmpException.generic("Resetting the Virtual Machine is required");
                }
                if (s == RunState.FINISH_MIGRATE) {
                    throw QmpException.generic("Migration is not finalized yet");
                }
                if (s == RunState.SUSPENDED || s.isRunning()) {
                    return empty();
                }
                if (machine.enterIf(s, RunState.RUNNING)) {
                    events.emit("RESUME", empty(), System.currentTimeMillis());
                    return empty();
                }
                // a migration changed the run state between the read and the resume: decide on the new one
            }
        }
    }

    /**
     * A destination whose load failed or was cancelled holds no complete guest (its RAM was discarded), so it
     * must neither run nor migrate out. livemig's own rule: QEMU's destination exits instead.
     */
    private void refuseAfterFailedLoad() throws QmpException {
        if (incoming != null && (incoming.status() == MigrationStatus.FAILED || incoming.status() == MigrationStatus.CANCELLED)) {
            throw QmpException.generic("the incoming migration " + incoming.status().qemuName()
                    + ": this destination holds no complete guest; start a new destination");
        }
    }

    /** False when it is too late: the load has just ended and the command applies to the machine itself. */
    private boolean autostartAfterIncoming(boolean on) {
        if (incoming != null) {
            return incoming.setAutostart(on);
        }
        if (incomingSide != null) {
            incomingSide.autostart(on);
            return true;
        }
        return false;
    }

    /** The outgoing migration's figures; on a destination that never migrated out, the incoming status. */
    private Json queryMigrate() {
        synchronized (lock) {
            if (migration != null) {
                return inDialect(migration.info().toJson());
            }
            return incoming == null ? empty() : destinationInfo(incoming);
        }
    }

    /** A source's query-migrate as the dialect's QEMU words it (members it dropped or added). */
    private Json.Obj inDialect(Json.Obj info) {
        if (dialect.reportsSkippedPages() && !dialect.describesCancellation()) {
            return info;
        }
        var b = Json.object();
        for (Json.Member m : info.members()) {
            if (m.name().equals("ram") && !dialect.reportsSkippedPages() && m.value() instanceof Json.Obj ram) {
                var r = Json.object();
                ram.members().stream().filter(x -> !x.name().equals("skipped")).forEach(x -> r.put(x.name(), x.value()));
                b.put("ram", r.build());
            } else {
                b.put(m.name(), m.value());
            }
        }
        if (dialect.describesCancellation() && info.get("error-desc").isEmpty()
                && info.get("status").orElse(null) instanceof Json.Str(String s) && s.equals(MigrationStatus.CANCELLED.qemuName())) {
            b.put("error-desc", "migration cancelled");
        }
        return b.build();
    }

    /**
     * QEMU's destination query-migrate: the status, and where it listens (socket-address, with the real port
     * when the URI asked for port 0), so that a client knows what to give the source.
     */
    private static Json.Obj destinationInfo(IncomingMigration in) {
        var b = Json.object();
        for (Json.Member m : in.info().toJson().members()) {
            b.put(m.name(), m.value());
        }
        Json.Obj address = switch (in.address()) {
            // QEMU's socket_sockaddr_to_address_inet also names the address family of the listening socket
            case MigrationUri.Tcp(String host, int port) -> Json.object().put("port", Integer.toString(port))
                    .put(host.contains(":") ? "ipv6" : "ipv4", true).put("host", host).put("type", "inet").build();
            case MigrationUri.Unix(var path) -> Json.object().put("type", "unix").put("path", path.toString()).build();
            case null, default -> null; // exec and file are no sockets
        };
        if (address != null && !in.status().isFinal()) {
            b.put("socket-address", new Json.Arr(List.of(address)));
        }
        return b.build();
    }

    /**
     * QEMU's checks, in its order: one incoming migration per process, and only on a machine started to
     * receive one. A URI that cannot be listened on leaves the command usable again, as in QEMU.
     */
    private Json migrateIncoming(Json.Obj args) throws QmpException {
        synchronized (lock) {
            if (incoming != null) {
                throw QmpException.generic("The incoming migration has already been started");
            }
            if (incomingSide == null || machine.runState() != RunState.INMIGRATE) {
                throw QmpException.generic("'-incoming' was not specified on the command line");
            }
            try {
                announceIncomingSetup(); // before the URI is even parsed, as QEMU
                listenIncoming(MigrationUri.parse(args.string("uri")));
            } catch (MigrationException e) {
                throw QmpException.generic(e.getMessage());
            }
        }
        return empty();
    }

    /**
     * QEMU's qemu_start_incoming_migration announces MIGRATION "setup" before it listens, whether or not the
     * events capability is on and whether or not the listen then works; the status itself stays none until
     * the source connects.
     */
    private void startIncoming(MigrationUri uri) throws MigrationException {
        announceIncomingSetup();
        listenIncoming(uri);
    }

    private void announceIncomingSetup() {
        if (!dialect.announcesIncomingSetupWithoutEvents() && !config.has("events")) {
            return;
        }
        events.emit("MIGRATION", Json.object().put("status", MigrationStatus.SETUP.qemuName()).build(), System.currentTimeMillis());
    }

    private void listenIncoming(MigrationUri uri) throws MigrationException {
        MigrationConfig started = config;
        // QEMU reads the events capability as each status changes; on a destination it may change meanwhile
        // (migrate-set-capabilities looks only at the outgoing status)
        var in = new IncomingMigration(machine, started, incomingSide.autostart(), dialect, e -> forward(config, e));
        in.listen(uri, incomingSide.gate());
        incoming = in;
        incomingSide.started().complete(in);
    }

    private boolean migrationActive() {
        return migration != null && !migration.status().isFinal();
    }

    private Json migrate(Json.Obj args) throws QmpException {
        if (args.get("resume").orElse(null) instanceof Json.Bool(boolean resume) && resume) {
            throw QmpException.generic("postcopy recovery is not built yet in livemig");
        }
        if (flag(args, "blk") || flag(args, "inc")) {
            throw QmpException.generic("block migration is not built yet in livemig");
        }
        // "detach" is accepted and ignored, as QEMU does: migrate always returns at once
        synchronized (lock) {
            if (migrationActive()) {
                throw QmpException.generic("There's a migration process in progress");
            }
            if (machine.runState() == RunState.INMIGRATE) {
                throw QmpException.generic("Guest is waiting for an incoming migration");
            }
            refuseAfterFailedLoad();
            if (machine.runState() == RunState.POSTMIGRATE) {
                throw QmpException.generic("Can't migrate the vm that was paused due to previous migration");
            }
            if (dirtyRate.trackingDirtyPages()) {
                // livemig's own limit: the measurement and the migration would both arm the same dirty tracking
                throw QmpException.generic("the dirty rate is being measured in dirty-bitmap mode; migrate once query-dirty-rate says measured");
            }
            MigrationConfig started = config;
            var m = new Migration(machine, started, dialect, e -> forward(started, e));
            MigrationUri uri;
            try {
                uri = MigrationUri.parse(args.string("uri"));
            } catch (MigrationException e) {
                // QEMU 7.2 sets the migration up before it looks at the URI, so a bad one leaves it failed
                boolean unknownProtocol = !KNOWN_PROTOCOL.matcher(args.string("uri")).lookingAt();
                if (unknownProtocol && !dialect.setsUpMigrationForUnknownProtocol()) {
                    throw QmpException.generic("unknown migration protocol: " + args.string("uri"));
                }
                m.failBeforeStart(unknownProtocol ? null : e.getMessage());
                migration = m;
                throw QmpException.generic(unknownProtocol ? "Parameter 'uri' expects a valid migration protocol" : e.getMessage());
            }
            try {
                m.start(uri);
                migration = m;
            } catch (MigrationException e) {
                throw QmpException.generic(e.getMessage());
            }
        }
        return empty();
    }

    /** QEMU's calc-dirty-rate: starts a measurement in the background; query-dirty-rate shows it. */
    private Json calcDirtyRate(Json.Obj args) throws QmpException {
        synchronized (lock) {
            try {
                DirtyRateCalculation.Mode mode = args.get("mode").isPresent()
                        ? DirtyRateCalculation.Mode.byQemuName(args.string("mode")) : DirtyRateCalculation.Mode.PAGE_SAMPLING;
                Long samplePages = args.get("sample-pages").isPresent() ? args.number("sample-pages") : null;
                dirtyRate.start(args.number("calc-time"), samplePages, mode, migrationActive());
            } catch (MigrationException e) {
                throw QmpException.generic(e.getMessage());
            }
        }
        return empty();
    }

    private static boolean flag(Json.Obj args, String name) {
        return args.get(name).orElse(null) instanceof Json.Bool(boolean b) && b;
    }

    /** Turns a migration's event into a QMP event; the migration thread calls this. */
    private void forward(MigrationConfig started, MigrationEvent e) {
        boolean verbose = started.has(MigrationCapability.EVENTS.qmpName());
        switch (e) {
            case MigrationEvent.StatusChanged s when verbose ->
                    events.emit("MIGRATION", Json.object().put("status", s.status().qemuName()).build(), s.timestampMillis());
            case MigrationEvent.Pass p when verbose ->
                    events.emit("MIGRATION_PASS", Json.object().put("pass", p.pass()).build(), p.timestampMillis());
            case MigrationEvent.Stop s -> events.emit("STOP", empty(), s.timestampMillis());
            case MigrationEvent.Resume r -> events.emit("RESUME", empty(), r.timestampMillis());
            default -> {
                // MIGRATION / MIGRATION_PASS without the events capability: QEMU stays silent
            }
        }
    }

    /** QEMU's migrate_cancel: nothing to do when no migration runs. */
    private Json cancel() {
        Migration m;
        synchronized (lock) {
            m = migration;
        }
        if (m != null) {
            m.cancel();
        }
        return empty();
    }

    private Json migrateContinue(Json.Obj args) throws QmpException {
        String name = args.string("state");
        MigrationStatus from = null;
        for (MigrationStatus s : MigrationStatus.values()) {
            if (s.qemuName().equals(name)) {
                from = s;
            }
        }
        if (from == null) {
            throw QmpException.generic("Parameter 'state' does not accept value '" + name + "'");
        }
        Migration m;
        synchronized (lock) {
            m = migration;
        }
        if (m == null) {
            // QEMU compares with the outgoing status, none before any migrate: continuing "none" succeeds
            if (from != MigrationStatus.NONE) {
                throw QmpException.generic("Migration not in expected state: " + MigrationStatus.NONE.qemuName());
            }
            return empty();
        }
        try {
            m.continueFrom(from);
        } catch (MigrationException e) {
            throw QmpException.generic(e.getMessage());
        }
        return empty();
    }

    /** Applies the whole list to a copy, validates the result as one set, then keeps it (QEMU's order). */
    private Json setCapabilities(Json.Obj args) throws QmpException {
        List<Json> list = args.array("capabilities");
        synchronized (lock) {
            if (migrationActive()) {
                throw QmpException.generic("There's a migration process in progress");
            }
            var caps = new TreeSet<>(config.capabilities());
            for (int i = 0; i < list.size(); i++) {
                String at = "capabilities[" + i + "]";
                if (!(list.get(i) instanceof Json.Obj entry)) {
                    throw QmpException.generic("Invalid parameter type for '" + at + "', expected: object");
                }
                // QEMU's visitor order and texts: each member in schema order, then members it does not know
                String name = entryMember(entry, at, "capability", QmpCommand.Type.STRING).asString();
                if (!knownCapability(name)) {
                    throw QmpException.generic("Parameter 'capability' does not accept value '" + name + "'");
                }
                Json state = entryMember(entry, at, "state", QmpCommand.Type.BOOL);
                for (Json.Member m : entry.members()) {
                    if (!m.name().equals("capability") && !m.name().equals("state")) {
                        throw QmpException.generic("Parameter '" + at + "." + m.name() + "' is unexpected");
                    }
                }
                if (state instanceof Json.Bool(boolean on) && on) {
                    caps.add(name);
                } else {
                    caps.remove(name);
                }
            }
            try {
                config = MigrationConfig.validated(new MigrationConfig(caps, config.downtimeLimitMs(), config.maxBandwidth(),
                        config.tuned()), dialect);
            } catch (MigrationException e) {
                throw QmpException.generic(e.getMessage());
            }
        }
        return empty();
    }

    private Json queryCapabilities() {
        MigrationConfig c;
        synchronized (lock) {
            c = config;
        }
        List<Json> list = new ArrayList<>();
        for (MigrationCapability cap : dialect.capabilities()) {
            list.add(Json.object().put("capability", cap.qmpName()).put("state", c.has(cap.qmpName())).build());
        }
        return new Json.Arr(list);
    }

    /**
     * Validates every given parameter, then applies them together. As in QEMU they may change while a
     * migration runs: max-bandwidth, downtime-limit and auto-converge's throttle parameters take effect in it
     * at once (Migration.retune), the others from the next migration.
     */
    private Json setParameters(Json.Obj args) throws QmpException {
        synchronized (lock) {
            MigrationConfig next = config;
            for (Json.Member m : args.members()) {
                try {
                    MigrationParameter p = MigrationParameter.byName(m.name());
                    next = next.withParameter(m.name(), parameterText(p, m.value()));
                } catch (MigrationException e) {
                    throw QmpException.generic(e.getMessage());
                }
            }
            config = next;
            if (migrationActive()) {
                migration.retune(next);
            }
        }
        return empty();
    }

    /** The value as MigrationParameter reads it, after QEMU's JSON type check for the parameter's type. */
    private static Json entryMember(Json.Obj entry, String at, String name, QmpCommand.Type type) throws QmpException {
        Json v = entry.get(name).orElseThrow(() -> QmpException.generic("Parameter '" + at + "." + name + "' is missing"));
        if (!type.accepts(v)) {
            throw QmpException.generic("Invalid parameter type for '" + at + "." + name + "', expected: " + type.qapiName());
        }
        return v;
    }

    /**
     * The value as MigrationParameter reads it, after the JSON check QEMU 7.2's input visitor makes for the
     * parameter's schema type (texts measured against qemu-system-x86_64 7.2.22): every integer parameter is
     * unsigned there, and a string for one is "expects uint64"; tls-* are StrOrNull, where null means "".
     */
    private static final java.math.BigInteger UINT64_MAX = java.math.BigInteger.ONE.shiftLeft(64).subtract(java.math.BigInteger.ONE);
    private static final java.math.BigInteger INT64_MIN = java.math.BigInteger.valueOf(Long.MIN_VALUE);

    private static String parameterText(MigrationParameter p, Json value) throws QmpException {
        return switch (p.type()) {
            case INT, SIZE -> {
                // QEMU takes any integer that fits uint64 or int64 (a negative one wraps, then fails the range)
                if (value instanceof Json.Num(String text) && text.matches("-?[0-9]+")
                        && new java.math.BigInteger(text).compareTo(UINT64_MAX) <= 0
                        && new java.math.BigInteger(text).compareTo(INT64_MIN) >= 0) {
                    yield text;
                }
                throw QmpException.generic("Parameter '" + p.qmpName() + "' expects uint64");
            }
            case BOOL -> value instanceof Json.Bool(boolean b) ? Boolean.toString(b) : typeError(p, "boolean");
            case STRING -> switch (value) {
                case Json.Str(String s) -> s;
                case Json.Null n -> "";
                default -> typeError(p, "StrOrNull");
            };
            case ENUM -> value instanceof Json.Str(String s) ? s : typeError(p, "string");
        };
    }

    private static String typeError(MigrationParameter p, String expected) throws QmpException {
        throw QmpException.generic("Invalid parameter type for '" + p.qmpName() + "', expected: " + expected);
    }

    /** Every parameter: those livemig uses from the configuration, the others at QEMU's defaults. */
    private Json queryParameters() {
        MigrationConfig c;
        synchronized (lock) {
            c = config;
        }
        var b = Json.object();
        for (MigrationParameter p : dialect.parameters()) {
            String v = p == MigrationParameter.ZERO_PAGE_DETECTION && !c.tuned().containsKey(p)
                    ? (machine.compat().multifdZeroPages() ? "multifd" : "legacy") // the machine type's default
                    : c.text(p);
            if (v == null) {
                continue;
            }
            b.put(p.qmpName(), switch (p.type()) {
                case INT, SIZE -> new Json.Num(v);
                case BOOL -> Json.of(Boolean.parseBoolean(v));
                case STRING, ENUM -> Json.of(v);
            });
        }
        return b.build();
    }

    /** Whether the dialect has a capability of this name (QMP enum values are case-sensitive). */
    private boolean knownCapability(String name) {
        try {
            return dialect.has(MigrationCapability.byName(name));
        } catch (MigrationException e) {
            return false;
        }
    }

    private Json quit() {
        onQuit.run();
        return empty();
    }

    /**
     * Cancels a running migration in either direction and waits for it, so that the machine may be closed
     * after the server. A destination that never started tells whoever waits for it that it will not.
     */
    void shutdown(Duration timeout) {
        Migration m;
        IncomingMigration in;
        synchronized (lock) {
            m = migration;
            in = incoming;
        }
        dirtyRate.close();
        if (incomingSide != null) {
            incomingSide.started().completeExceptionally(new MigrationException("the QMP server closed before migrate-incoming"));
        }
        if (in != null && !in.status().isFinal()) {
            in.cancel();
            try {
                in.awaitFinished(timeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (m != null && !m.status().isFinal()) {
            m.cancel();
            try {
                m.awaitFinished(timeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static Json.Obj empty() {
        return Json.object().build();
    }
}
