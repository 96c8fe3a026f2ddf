package dev.livemig.qmp;

import dev.livemig.json.Json;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RunState;
import dev.livemig.migration.IncomingMigration;
import dev.livemig.migration.MigrationCapability;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.migration.MigrationController;
import dev.livemig.migration.MigrationRefusedException;
import dev.livemig.migration.QmpDialect;
import dev.livemig.migration.MigrationEvent;
import dev.livemig.migration.MigrationParameter;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.migration.DirtyRateCalculation;
import dev.livemig.transport.MigrationUri;
import dev.livemig.wire.MigrationException;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;

import static dev.livemig.qmp.QmpCommand.Param.optional;
import static dev.livemig.qmp.QmpCommand.Param.required;

/**
 * The QMP commands of a machine, one table entry each: run state, migration control in both directions,
 * capabilities and parameters. A thin adapter: each command checks its JSON arguments the way QEMU's
 * visitors do (with their texts), asks the machine's {@link MigrationController} and words the answer as the
 * dialect's QEMU does; the controller holds every migration and the configuration, and decides what is
 * allowed when (QmpMigrationStateRulesTest holds the table). The controller's events become QMP events
 * (MIGRATION, MIGRATION_PASS, STOP, RESUME).
 */
final class MachineCommands {
    /** Where QMP events go (the server's broadcast). */
    @FunctionalInterface
    interface Events {
        void emit(String name, Json.Obj data, long timestampMillis);
    }


    private final Machine machine;
    private final QmpDialect dialect;
    private final MigrationController controller;
    private final Runnable onQuit;
    private final List<QmpCommand> table;

    /** {@code controller} was built with {@link #eventsTo(Events)} as its listener, so that its events reach QMP clients. */
    MachineCommands(MigrationController controller, Runnable onQuit) {
        this.controller = controller;
        this.machine = controller.machine();
        this.dialect = controller.dialect();
        this.onQuit = onQuit;
        this.table = buildTable();
    }

    /** A controller's events as QMP events. */
    static java.util.function.Consumer<MigrationEvent> eventsTo(Events events) {
        return e -> {
            switch (e) {
                case MigrationEvent.StatusChanged s ->
                        events.emit("MIGRATION", Json.object().put("status", s.status().qemuName()).build(), s.timestampMillis());
                case MigrationEvent.Pass p ->
                        events.emit("MIGRATION_PASS", Json.object().put("pass", p.pass()).build(), p.timestampMillis());
                case MigrationEvent.Stop s -> events.emit("STOP", empty(), s.timestampMillis());
                case MigrationEvent.Resume r -> events.emit("RESUME", empty(), r.timestampMillis());
            }
        };
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
                new QmpCommand("migrate", migrateParams(dialect), this::migrate),
                QmpCommand.of("migrate_cancel", a -> cancel()),
                QmpCommand.of("migrate-start-postcopy", a -> startPostcopy()),
                QmpCommand.of("migrate-pause", a -> pausePostcopy()),
                new QmpCommand("migrate-recover", List.of(required("uri", QmpCommand.Type.STRING)), this::recoverPostcopy),
                new QmpCommand("migrate-incoming", List.of(required("uri", QmpCommand.Type.STRING)), this::migrateIncoming),
                new QmpCommand("migrate-continue", List.of(required("state", QmpCommand.Type.STRING)), this::migrateContinue),
                new QmpCommand("migrate-set-capabilities", List.of(required("capabilities", QmpCommand.Type.ARRAY)), this::setCapabilities),
                QmpCommand.of("query-migrate-capabilities", a -> queryCapabilities()),
                new QmpCommand("migrate-set-parameters", parameterParams(dialect), this::setParameters),
                QmpCommand.of("query-migrate-parameters", a -> queryParameters()),
                new QmpCommand("calc-dirty-rate", List.of(required("calc-time", QmpCommand.Type.INT),
                        optional("sample-pages", QmpCommand.Type.INT), optional("mode", QmpCommand.Type.STRING)), this::calcDirtyRate),
                QmpCommand.of("query-dirty-rate", a -> controller.dirtyRate().toJson()),
                new QmpCommand("getfd", List.of(required("fdname", QmpCommand.Type.STRING)), this::getfd),
                new QmpCommand("closefd", List.of(required("fdname", QmpCommand.Type.STRING)), this::closefd),
                QmpCommand.takingMore("object-add", List.of(required("qom-type", QmpCommand.Type.STRING),
                        required("id", QmpCommand.Type.STRING)), this::objectAdd),
                new QmpCommand("object-del", List.of(required("id", QmpCommand.Type.STRING)), this::objectDel),
                QmpCommand.of("quit", a -> quit())));
        return List.copyOf(t);
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

    private Json stop() {
        controller.stop();
        return empty();
    }

    private Json cont() throws QmpException {
        try {
            controller.cont();
        } catch (MigrationRefusedException e) {
            throw refused(e);
        }
        return empty();
    }

    /** The outgoing migration's figures; on a destination that never migrated out, the incoming status. */
    private Json queryMigrate() {
        var now = controller.migrations();
        if (now.outgoing().isPresent()) {
            return inDialect(now.outgoing().get().info().toJson());
        }
        return now.incoming().map(MachineCommands::destinationInfo).orElse(empty());
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

    private Json migrateIncoming(Json.Obj args) throws QmpException {
        try {
            controller.migrateIncoming(args.string("uri"));
        } catch (MigrationRefusedException e) {
            throw refused(e);
        }
        return empty();
    }

    /** 7.2's migrate takes a URI; 10.0's a URI or a channel list, and no block migration any more. */
    private static List<QmpCommand.Param> migrateParams(QmpDialect dialect) {
        if (dialect.takesMigrationChannels()) {
            return List.of(optional("uri", QmpCommand.Type.STRING), optional("channels", QmpCommand.Type.ARRAY),
                    optional("detach", QmpCommand.Type.BOOL), optional("resume", QmpCommand.Type.BOOL));
        }
        return List.of(required("uri", QmpCommand.Type.STRING), optional("blk", QmpCommand.Type.BOOL),
                optional("inc", QmpCommand.Type.BOOL), optional("detach", QmpCommand.Type.BOOL),
                optional("resume", QmpCommand.Type.BOOL));
    }

    private Json migrate(Json.Obj args) throws QmpException {
        if (args.get("uri").isPresent() == args.get("channels").isPresent()) {
            throw QmpException.generic("need either 'uri' or 'channels' argument");
        }
        if (args.get("channels").isPresent()) {
            if (flag(args, "resume")) {
                throw QmpException.generic("migrate resume with channels is not built yet in livemig (give the uri)");
            }
            try {
                controller.migrate(dev.livemig.transport.MigrationChannels.parse(args.get("channels").orElseThrow().asArray()));
            } catch (dev.livemig.wire.MigrationException e) {
                throw QmpException.generic(e.getMessage());
            } catch (MigrationRefusedException e) {
                throw refused(e);
            }
            return empty();
        }
        if (flag(args, "resume")) {
            try {
                controller.resumePostcopy(args.string("uri"));
            } catch (MigrationRefusedException e) {
                throw refused(e);
            }
            return empty();
        }
        if (flag(args, "blk") || flag(args, "inc")) {
            throw QmpException.generic("block migration is not built yet in livemig");
        }
        // "detach" is accepted and ignored, as QEMU does: migrate always returns at once
        try {
            controller.migrate(args.string("uri"));
        } catch (MigrationRefusedException e) {
            throw refused(e);
        }
        return empty();
    }

    /**
     * QEMU's getfd: files the descriptor the client passed with this command (SCM_RIGHTS on the unix socket) under
     * {@code fdname}, replacing one of that name; {@code migrate fd:NAME} takes it.
     */
    private Json getfd(Json.Obj args) throws QmpException {
        String name = args.string("fdname");
        PassedDescriptors passed = PassedDescriptors.SESSION.isBound() ? PassedDescriptors.SESSION.get() : null;
        var descriptor = passed == null ? java.util.Optional.<dev.livemig.linux.ReceivedDescriptor>empty() : passed.take();
        if (descriptor.isEmpty()) {
            throw QmpException.generic("No file descriptor supplied via SCM_RIGHTS");
        }
        if (!name.isEmpty() && Character.isDigit(name.charAt(0))) {
            descriptor.get().close(); // taken, then refused, as QEMU does
            throw QmpException.generic("Parameter 'fdname' expects a name not starting with a digit");
        }
        controller.namedDescriptors().put(name, descriptor.get());
        return empty();
    }

    /**
     * QEMU's object-add, for the objects TLS migration uses; the members other than qom-type and id are the object's
     * properties, judged by its type.
     */
    private Json objectAdd(Json.Obj args) throws QmpException {
        var props = new ArrayList<Json.Member>();
        for (Json.Member m : args.members()) {
            if (!m.name().equals("qom-type") && !m.name().equals("id")) {
                props.add(m);
            }
        }
        try {
            controller.objects().add(args.string("qom-type"), args.string("id"), new Json.Obj(props));
        } catch (dev.livemig.transport.tls.UserObjectException e) {
            throw QmpException.generic(e.getMessage());
        }
        return empty();
    }

    /** QEMU's object-del. */
    private Json objectDel(Json.Obj args) throws QmpException {
        try {
            controller.objects().delete(args.string("id"));
        } catch (dev.livemig.transport.tls.UserObjectException e) {
            throw QmpException.generic(e.getMessage());
        }
        return empty();
    }

    /** QEMU's closefd. */
    private Json closefd(Json.Obj args) throws QmpException {
        String name = args.string("fdname");
        if (!controller.namedDescriptors().close(name)) {
            throw QmpException.generic("File descriptor named '" + name + "' not found");
        }
        return empty();
    }

    /** QEMU's calc-dirty-rate: starts a measurement in the background; query-dirty-rate shows it. */
    private Json calcDirtyRate(Json.Obj args) throws QmpException {
        try {
            DirtyRateCalculation.Mode mode = args.get("mode").isPresent()
                    ? DirtyRateCalculation.Mode.byQemuName(args.string("mode")) : DirtyRateCalculation.Mode.PAGE_SAMPLING;
            Long samplePages = args.get("sample-pages").isPresent() ? args.number("sample-pages") : null;
            controller.calcDirtyRate(args.number("calc-time"), samplePages, mode);
        } catch (MigrationException e) {
            throw QmpException.generic(e.getMessage());
        } catch (MigrationRefusedException e) {
            throw refused(e);
        }
        return empty();
    }

    private static boolean flag(Json.Obj args, String name) {
        return args.get(name).orElse(null) instanceof Json.Bool(boolean b) && b;
    }

    private Json cancel() {
        controller.cancel();
        return empty();
    }

    private Json pausePostcopy() throws QmpException {
        try {
            controller.pausePostcopy();
        } catch (MigrationRefusedException e) {
            throw refused(e);
        }
        return empty();
    }

    private Json recoverPostcopy(Json.Obj args) throws QmpException {
        try {
            controller.recoverPostcopy(args.string("uri"));
        } catch (MigrationRefusedException e) {
            throw refused(e);
        }
        return empty();
    }

    private Json startPostcopy() throws QmpException {
        try {
            controller.startPostcopy();
        } catch (MigrationRefusedException e) {
            throw refused(e);
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
        try {
            controller.continueFrom(from);
        } catch (MigrationRefusedException e) {
            throw refused(e);
        }
        return empty();
    }

    /** Reads the whole list with QEMU's visitor checks; the controller applies it as one set. */
    private Json setCapabilities(Json.Obj args) throws QmpException {
        List<Json> list = args.array("capabilities");
        var changes = new LinkedHashMap<MigrationCapability, Boolean>();
        for (int i = 0; i < list.size(); i++) {
            String at = "capabilities[" + i + "]";
            if (!(list.get(i) instanceof Json.Obj entry)) {
                throw QmpException.generic("Invalid parameter type for '" + at + "', expected: object");
            }
            // QEMU's visitor order and texts: each member in schema order, then members it does not know
            String name = entryMember(entry, at, "capability", QmpCommand.Type.STRING).asString();
            MigrationCapability cap = knownCapability(name)
                    .orElseThrow(() -> QmpException.generic("Parameter 'capability' does not accept value '" + name + "'"));
            Json state = entryMember(entry, at, "state", QmpCommand.Type.BOOL);
            for (Json.Member m : entry.members()) {
                if (!m.name().equals("capability") && !m.name().equals("state")) {
                    throw QmpException.generic("Parameter '" + at + "." + m.name() + "' is unexpected");
                }
            }
            changes.put(cap, state instanceof Json.Bool(boolean on) && on);
        }
        try {
            controller.setCapabilities(changes);
        } catch (MigrationRefusedException e) {
            throw refused(e);
        }
        return empty();
    }

    private Json queryCapabilities() {
        MigrationConfig c = controller.config();
        List<Json> list = new ArrayList<>();
        for (MigrationCapability cap : dialect.capabilities()) {
            list.add(Json.object().put("capability", cap.qmpName()).put("state", c.has(cap)).build());
        }
        return new Json.Arr(list);
    }

    /** Types every given parameter as QEMU's visitor does; the controller checks the values and applies them together. */
    private Json setParameters(Json.Obj args) throws QmpException {
        var values = new LinkedHashMap<MigrationParameter, String>();
        for (Json.Member m : args.members()) {
            try {
                MigrationParameter p = MigrationParameter.byName(m.name());
                values.put(p, parameterText(p, m.value()));
            } catch (MigrationException e) {
                throw QmpException.generic(e.getMessage());
            }
        }
        try {
            controller.setParameters(values);
        } catch (MigrationRefusedException e) {
            throw refused(e);
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
        MigrationConfig c = controller.config();
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

    /** The dialect's capability of this name (QMP enum values are case-sensitive). */
    private java.util.Optional<MigrationCapability> knownCapability(String name) {
        try {
            MigrationCapability cap = MigrationCapability.byName(name);
            return dialect.has(cap) ? java.util.Optional.of(cap) : java.util.Optional.empty();
        } catch (MigrationException e) {
            return java.util.Optional.empty();
        }
    }

    private Json quit() {
        onQuit.run();
        return empty();
    }

    private static QmpException refused(MigrationRefusedException e) {
        return QmpException.generic(e.getMessage());
    }

    private static Json.Obj empty() {
        return Json.object().build();
    }
}
