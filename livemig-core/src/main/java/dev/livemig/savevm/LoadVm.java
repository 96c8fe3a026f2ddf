package dev.livemig.savevm;

import dev.livemig.json.Json;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RunState;
import dev.livemig.machine.Registration;
import dev.livemig.vmstate.DescribedSection;
import dev.livemig.vmstate.VmStateCodec;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.format.StreamFraming;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.format.StreamRecord;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Destination-side dispatch of QEMU's stream into a machine (§6.3): header and configuration checks, every
 * live handler's load setup, then records dispatched by (idstr, instance id) for START/FULL and by section
 * id for PART/END, footers checked, until EOF; then the trailer is consumed.
 *
 * <p>A FULL section that no local registration claims is rejected, unless {@code described} (typically the
 * trailer of the same file, read ahead) describes it: then its bytes are walked by that description and
 * kept as an {@link Registration.Opaque} section of the machine, so a later save carries it on. Every fault
 * becomes a {@link MigrationException} naming the section and offset.
 */
public final class LoadVm {
    /**
     * What the load learned besides the state it placed: the source's run state, the trailer's JSON (null when
     * absent) and, when the trailer could not be read, why (the state is complete by then, so as in QEMU this
     * does not fail the load).
     */
    public record Result(RunState sourceRunState, byte[] vmDescription, String trailerProblem) {
    }

    /** Upper bound for one carried-through section (QEMU device sections are kilobytes). */
    public static final int MAX_OPAQUE_SECTION = 16 << 20;

    /** Receives the stream's commands (§11.2). */
    public interface CommandHandler {
        /**
         * Handles one command record (its data read already), on the load thread, with {@code in} the stream
         * past it; a throw fails the load.
         */
        void onCommand(StreamRecord.Command command, StreamReader in) throws MigrationException;

        /**
         * True once a command handed the rest of the stream to someone else (postcopy's page server at
         * POSTCOPY_LISTEN): the load then ends after that command without reading on.
         */
        default boolean handedOff() {
            return false;
        }

        /**
         * A snapshot's: SWITCHOVER_START (which current QEMU writes into snapshot files too) is checked and has
         * nothing to start here; any other command is refused, as a snapshot has none.
         */
        CommandHandler SNAPSHOT = (cmd, in) -> {
            if (cmd.command() == dev.livemig.wire.format.MigrationCommands.SWITCHOVER_START) {
                dev.livemig.wire.format.MigrationCommands.decode(cmd, in, true); // its length checked
                return;
            }
            throw in.error("unsupported command in this stream: cmd=" + cmd.command() + " length=" + cmd.data().length);
        };
    }

    private final Machine machine;
    private final StreamReader in;
    private final CommandHandler commands;
    private final Map<DescribedDevices.Key, Json.Obj> described;
    private final Map<Integer, Registration> started = new HashMap<>();

    /**
     * A load of a snapshot's stream: its commands are refused but SWITCHOVER_START ({@link CommandHandler#SNAPSHOT}).
     */
    public LoadVm(Machine machine, StreamReader in, DescribedDevices described) {
        this(machine, in, described, CommandHandler.SNAPSHOT);
    }

    /** A load whose command records go to {@code commands} (a migration's return-path commands, say). */
    public LoadVm(Machine machine, StreamReader in, DescribedDevices described, CommandHandler commands) {
        this.machine = machine;
        this.in = in;
        this.described = described.byKey();
        this.commands = commands;
    }

    /**
     * Reads the whole stream into the machine, on the calling thread: header and configuration, every section
     * until EOF, then the trailer. Every live handler's loadCleanup runs at the end, whatever the outcome. A
     * failure leaves the machine partly loaded.
     */
    public Result load() throws MigrationException {
        StandardSections standard = StandardSections.of(machine);
        List<Registration> entries = machine.devices().snapshot();
        StreamFraming.readHeader(in);
        var configuration = ConfigurationRecord.read(in, machine.name(),
                standard.ram().ignoreShared() ? List.of(dev.livemig.migration.MigrationCapability.X_IGNORE_SHARED.qmpName()) : List.of(),
                machine.uuid().orElse(null));
        standard.ram().mappedRamIncoming(configuration.capabilities().contains(dev.livemig.migration.MigrationCapability.MAPPED_RAM.qmpName()));
        for (Registration e : entries) {
            if (e instanceof Registration.Live live && live.handler().isActive()) {
                SaveVm.guarded(live, live.handler()::loadSetup);
            }
        }
        try {
            while (true) {
                in.section(null);
                StreamRecord record = StreamFraming.readRecord(in);
                switch (record) {
                    case StreamRecord.Eof eof -> {
                        standard.ram().checkEveryBlockFed(in);
                        RunState state = standard.globalState().received();
                        state = state == null ? RunState.RUNNING : state;
                        try {
                            return new Result(state, StreamFraming.readVmDescription(in), null);
                        } catch (MigrationException e) {
                            return new Result(state, null, e.getMessage());
                        }
                    }
                    case StreamRecord.SectionStart start -> loadStart(start);
                    case StreamRecord.SectionContinue cont -> loadContinue(cont);
                    case StreamRecord.Command cmd -> {
                        commands.onCommand(cmd, in);
                        if (commands.handedOff()) {
                            RunState state = standard.globalState().received(); // it came in the package
                            return new Result(state == null ? RunState.RUNNING : state, null, null);
                        }
                    }
                }
            }
        } finally {
            for (Registration e : entries) {
                if (e instanceof Registration.Live live) {
                    live.handler().loadCleanup();
                }
            }
        }
    }

    /**
     * A postcopy package (format reference §12.3): its records, a stream of their own with no header, through
     * this load's devices and commands (POSTCOPY_LISTEN, the devices' FULL sections, PINGs, POSTCOPY_RUN) to its
     * end. Only FULL sections and commands may be in it.
     */
    public void loadPackage(byte[] bytes) throws MigrationException {
        var nested = new LoadVm(machine, StreamReader.of(bytes), new DescribedDevices(described), commands);
        nested.in.section("package");
        while (!nested.in.atEnd()) {
            long at = nested.in.offset();
            switch (StreamFraming.readRecord(nested.in)) {
                case StreamRecord.SectionStart s when s.full() -> nested.loadStart(s);
                case StreamRecord.Command cmd -> commands.onCommand(cmd, nested.in);
                case StreamRecord other -> throw nested.in.errorAt(at, "a postcopy package carries FULL sections and commands, not " + other);
            }
        }
    }

    /** The stream's section id of the iterative section {@code idstr} started so far, or -1. */
    public int startedSectionId(String idstr) {
        for (var e : started.entrySet()) {
            if (e.getValue().idstr().equals(idstr)) {
                return e.getKey();
            }
        }
        return -1;
    }

    private void loadStart(StreamRecord.SectionStart s) throws MigrationException {
        long at = in.offset();
        in.section(s.idstr());
        Registration target = machine.devices().find(s.idstr(), s.instanceId()).orElse(null);
        if (target == null) {
            target = adoptDescribed(s, at);
        } else {
            if (s.versionId() > target.versionId()) {
                throw in.errorAt(at, "section version too new: idstr=" + MigrationException.quote(s.idstr()) + " version=" + s.versionId()
                        + " supported=" + target.versionId());
            }
            if (s.full() != !(target instanceof Registration.Live)) {
                throw in.errorAt(at, "section kind does not match its handler: idstr=" + MigrationException.quote(s.idstr())
                        + " record=" + (s.full() ? "FULL" : "START"));
            }
            loadBody(target, s.versionId());
        }
        StreamFraming.readFooter(in, s.sectionId());
        if (!s.full()) {
            started.put(s.sectionId(), target);
        }
    }

    private void loadContinue(StreamRecord.SectionContinue c) throws MigrationException {
        Registration target = started.get(c.sectionId());
        if (target == null) {
            throw in.error("PART/END for a section that never started: section_id=" + c.sectionId());
        }
        in.section(target.idstr());
        loadBody(target, target.versionId());
        StreamFraming.readFooter(in, c.sectionId());
    }

    private void loadBody(Registration target, int version) throws MigrationException {
        switch (target) {
            case Registration.Live live -> SaveVm.guarded(live, () -> live.handler().loadState(in, version));
            case Registration.Device<?> device -> loadDevice(device, version);
            case Registration.Opaque opaque -> {
                byte[] data = DescribedSection.read(in, opaque.description(), MAX_OPAQUE_SECTION);
                machine.devices().unregister(opaque.idstr(), opaque.instanceId());
                machine.devices().registerOpaque(opaque.idstr(), opaque.instanceId(), version, data, opaque.description());
            }
        }
    }

    private <T> void loadDevice(Registration.Device<T> device, int version) throws MigrationException {
        SaveVm.guarded(device, () -> VmStateCodec.load(in, device.description(), device.state(), version));
    }

    private Registration adoptDescribed(StreamRecord.SectionStart s, long at) throws MigrationException {
        Json.Obj description = described.get(new DescribedDevices.Key(s.idstr(), s.instanceId()));
        if (description == null || !s.full()) {
            throw in.errorAt(at, "unknown section: idstr=" + MigrationException.quote(s.idstr()) + " instance_id=" + s.instanceId()
                    + " (no such device on this machine)");
        }
        byte[] data = DescribedSection.read(in, description, MAX_OPAQUE_SECTION);
        return machine.devices().registerOpaque(s.idstr(), s.instanceId(), s.versionId(), data, description);
    }
}
