package dev.livemig.fuzz;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParser;
import dev.livemig.json.JsonWriter;
import dev.livemig.machine.HostFeatures;
import dev.livemig.machine.KernelFeature;
import dev.livemig.machine.DeviceRegistry;
import dev.livemig.machine.LiveStateHandler;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RamBlock;
import dev.livemig.savevm.DescribedDevices;
import dev.livemig.savevm.LoadVm;
import dev.livemig.savevm.Snapshots;
import dev.livemig.vmstate.VmStateCodec;
import dev.livemig.vmstate.VmStateDescription;
import dev.livemig.vmstate.VmStateType;
import dev.livemig.wire.format.MigrationCommand;
import dev.livemig.wire.format.MigrationCommands;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.format.ReturnPathCodec;
import dev.livemig.wire.format.ReturnPathMessage;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.format.StreamRecord;
import dev.livemig.wire.StreamWriter;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/**
 * The machine a fuzzed incoming stream is loaded into: two RAM blocks and, besides the standard sections
 * (ram, globalstate), a VMState device with versions, a variable array and nested subsections, and a live
 * handler that takes PART sections. {@link #load} is the destination's record loop as
 * {@code IncomingMigration} runs it, minus the socket: commands are decoded and OPEN_RETURN_PATH and PING
 * answered on an in-memory return path.
 */
public final class DestinationGuest implements AutoCloseable {
    /** A timer device: version 3 (loads 1..3), a field since version 2, a variable array, nested subsections. */
    public static final class Timer {
        static final int MAX_ALARMS = 8;
        long ticks;
        long period;
        boolean armed;
        long alarmCount;
        long[] alarms = new long[MAX_ALARMS];
        byte[] name = new byte[4];
        long drift;      // subsection timer/drift, sent when non-zero
        long driftScale; // subsection timer/drift/scale inside it, sent when non-zero

        static final VmStateDescription<Timer> SCALE = VmStateDescription.<Timer>builder("timer/drift/scale").version(1)
                .uint16("scale", t -> t.driftScale, (t, v) -> t.driftScale = v)
                .build();

        static final VmStateDescription<Timer> DRIFT = VmStateDescription.<Timer>builder("timer/drift").version(2)
                .int64("drift", t -> t.drift, (t, v) -> t.drift = v)
                .subsection(SCALE, t -> t.driftScale != 0)
                .build();

        public static final VmStateDescription<Timer> VMSD = VmStateDescription.<Timer>builder("timer").version(3).minimumVersion(1)
                .uint64("ticks", t -> t.ticks, (t, v) -> t.ticks = v)
                .uint32("period", t -> t.period, (t, v) -> t.period = v).since(2)
                .bool("armed", t -> t.armed, (t, v) -> t.armed = v)
                .uint8("alarm_count", t -> t.alarmCount, (t, v) -> t.alarmCount = v)
                .varray(VmStateType.UINT32, "alarms", t -> t.alarmCount, MAX_ALARMS, t -> t.alarms)
                .buffer("name", 4, t -> t.name)
                .subsection(DRIFT, t -> t.drift != 0)
                .build();
    }

    /** A live handler: every body is be32 n and n bytes, n at most {@link #MAX_CHUNK}, in START, PART and END sections. */
    public static final class Journal implements LiveStateHandler {
        static final int MAX_CHUNK = 4096;
        final ByteArrayOutputStream received = new ByteArrayOutputStream();
        byte[] text = new byte[0];
        private int sent;

        @Override
        public void saveSetup(StreamWriter out) throws MigrationException {
            sent = 0;
            out.be32(0);
        }

        @Override
        public boolean saveIterate(StreamWriter out, long budgetBytes) throws MigrationException {
            int n = Math.min(7, text.length - sent);
            out.be32(n).bytes(text, sent, n);
            sent += n;
            return sent == text.length;
        }

        @Override
        public void saveCompletePrecopy(StreamWriter out) throws MigrationException {
            int n = text.length - sent;
            out.be32(n).bytes(text, sent, n);
            sent = text.length;
        }

        @Override
        public Pending pendingEstimate() {
            return new Pending(text.length - sent, 0);
        }

        @Override
        public void loadState(StreamReader in, int versionId) throws MigrationException {
            int n = in.be32();
            if (n < 0 || n > MAX_CHUNK) {
                throw in.error("journal chunk out of range: length=" + n + " max=" + MAX_CHUNK);
            }
            received.writeBytes(in.bytes(n));
        }
    }

    public static final String NAME = "livemig-fuzz";
    public final Machine machine;
    public final Timer timer = new Timer();
    public final Journal journal = new Journal();
    private StreamWriter returnPath; // null until OPEN_RETURN_PATH

    public DestinationGuest() {
        // without pagemap-scan and populate-write: the kernel's help (a /proc read, a prefault thread per load) is
        // not what is fuzzed, and cost most of each run
        machine = Machine.builder(NAME).ram("pc.ram", 16 * RamBlock.TARGET_PAGE_SIZE).ram("rom", 2 * RamBlock.TARGET_PAGE_SIZE)
                .hostFeatures(HostFeatures.ALL.without(KernelFeature.PAGEMAP_SCAN, KernelFeature.POPULATE_WRITE)).build();
        machine.devices().registerLive("journal", DeviceRegistry.AUTO_INSTANCE, 1, journal);
        machine.devices().register("timer", DeviceRegistry.AUTO_INSTANCE, Timer.VMSD, timer);
    }

    /** Loads {@code stream} as the destination of a live migration does. */
    public LoadVm.Result load(byte[] stream) throws MigrationException {
        return new LoadVm(machine, StreamReader.of(stream), DescribedDevices.NONE, this::onCommand).load();
    }

    /** The state a source would send: some RAM pages, the timer with both subsections, a journal text. */
    public DestinationGuest fill() {
        RamBlock ram = machine.ramBlock("pc.ram").orElseThrow();
        ram.page(3L * RamBlock.TARGET_PAGE_SIZE).fill((byte) 0x11);
        ram.page(5L * RamBlock.TARGET_PAGE_SIZE).set(java.lang.foreign.ValueLayout.JAVA_BYTE, 17, (byte) 0x5a);
                timer.ticks = 0x1234_5678_9abcL;
        timer.period = 1000;
        timer.armed = true;
        timer.alarmCount = 3;
        timer.alarms = new long[] {10, 20, 30, 0, 0, 0, 0, 0};
        timer.name = "tmr0".getBytes(StandardCharsets.US_ASCII);
        timer.drift = -5;
        timer.driftScale = 2;
        journal.text = "a journal sent in several parts".getBytes(StandardCharsets.US_ASCII);
        return this;
    }

    /** The whole state as a snapshot stream (what a seed of the corpus is). */
    public byte[] save() throws MigrationException {
        var out = StreamWriter.inMemory();
        Snapshots.save(machine, out);
        return out.toByteArray();
    }

    /**
     * Seeds of the targets that walk a section by its description: a be16 length, a vmdescription holding the
     * timer device's description (from the livemig trailer), then the timer's state as a stream holds it.
     */
    public static Map<String, byte[]> describedSections() throws Exception {
        try (var guest = new DestinationGuest().fill()) {
            var body = StreamWriter.inMemory();
            VmStateCodec.save(body, DestinationGuest.Timer.VMSD, guest.timer);
            Json timer = JsonParser.parse(VmDescriptionFuzzTest.livemigTrailer()).asObject().array("devices").stream()
                    .filter(d -> d.asObject().string("name").equals("timer")).findFirst().orElseThrow();
            byte[] json = JsonWriter.compact(Json.object().put("page_size", 4096)
                    .put("devices", new Json.Arr(List.of(timer))).build()).getBytes(StandardCharsets.UTF_8);
            byte[] framed = ByteBuffer.allocate(2 + json.length).putShort((short) json.length).put(json).array();
            return Map.of("timer", SeedCorpus.concat(framed, body.toByteArray()));
        }
    }

    private void onCommand(StreamRecord.Command raw, StreamReader in) throws MigrationException {
        switch (MigrationCommands.decode(raw, in, true)) { // both dialects, as IncomingMigration
            case MigrationCommand.OpenReturnPath open -> {
                if (returnPath == null) {
                    returnPath = StreamWriter.inMemory();
                }
            }
            case MigrationCommand.Ping ping -> {
                if (returnPath == null) {
                    throw in.error("PING without a return path: value=" + ping.value());
                }
                ReturnPathCodec.write(returnPath, new ReturnPathMessage.Pong(ping.value()));
            }
            case MigrationCommand.SwitchoverStart start -> {
                // nothing to start, as in IncomingMigration
            }
            case MigrationCommand other -> throw in.error("command not supported in precopy by livemig yet: " + other);
        }
    }

    @Override
    public void close() {
        machine.close();
    }
}
