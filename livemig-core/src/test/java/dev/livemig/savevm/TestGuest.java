package dev.livemig.savevm;

import dev.livemig.machine.DeviceRegistry;
import dev.livemig.machine.LiveStateHandler;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RamBlock;
import dev.livemig.vmstate.VmStateDescription;
import dev.livemig.vmstate.VmStateType;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;

/** A small machine with one device of each registration style, for savevm tests. */
final class TestGuest implements AutoCloseable {
    /** A VMState device with several field types and a subsection. */
    static final class Counter {
        long ticks;
        long offset;
        boolean enabled;
        long[] regs = new long[4];
        byte[] label = new byte[8];
        long extra; // sent in the subsection when non-zero

        static final VmStateDescription<Counter> EXTRA = VmStateDescription.<Counter>builder("counter/extra")
                .version(1).minimumVersion(1)
                .uint64("extra", c -> c.extra, (c, v) -> c.extra = v)
                .build();

        static VmStateDescription<Counter> description(int version) {
            return VmStateDescription.<Counter>builder("counter").version(version).minimumVersion(1)
                    .uint32("ticks", c -> c.ticks, (c, v) -> c.ticks = v)
                    .int64("offset", c -> c.offset, (c, v) -> c.offset = v)
                    .bool("enabled", c -> c.enabled, (c, v) -> c.enabled = v)
                    .array(VmStateType.UINT16, "regs", 4, c -> c.regs)
                    .buffer("label", 8, c -> c.label)
                    .subsection(EXTRA, c -> c.extra != 0)
                    .build();
        }

        boolean sameAs(Counter o) {
            return ticks == o.ticks && offset == o.offset && enabled == o.enabled && Arrays.equals(regs, o.regs)
                    && Arrays.equals(label, o.label) && extra == o.extra;
        }
    }

    /** A live handler that sends a text in several PART sections, five bytes per iteration; every body is be32 n + n bytes. */
    static class Journal implements LiveStateHandler {
        static final int MAX_CHUNK = 1 << 20;
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
            int n = Math.min(5, text.length - sent);
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
                throw in.error("journal chunk out of range: length=" + n);
            }
            received.writeBytes(in.bytes(n));
        }
    }

    final Machine machine;
    final Counter counter = new Counter();
    final Journal journal = new Journal();

    /** An empty guest: two RAM blocks, the counter device at {@code counterVersion}, the journal. */
    TestGuest(String name, int counterVersion) {
        machine = Machine.builder(name).ram("main.ram", 64 * 4096).ram("rom", 4 * 4096).build();
        machine.devices().registerLive("journal", DeviceRegistry.AUTO_INSTANCE, 1, journal);
        machine.devices().register("counter", DeviceRegistry.AUTO_INSTANCE, Counter.description(counterVersion), counter);
    }

    TestGuest() {
        this("livemig-test", 2);
    }

    /** Gives every part of the state a non-trivial value. */
    TestGuest fill(long seed) {
        var rnd = new Random(seed);
        RamBlock ram = machine.ramBlock("main.ram").orElseThrow();
        for (int p = 0; p < 64; p += 2) { // odd pages stay zero
            byte[] page = new byte[4096];
            rnd.nextBytes(page);
            MemorySegment.copy(MemorySegment.ofArray(page), 0, ram.memory(), p * 4096L, 4096);
        }
        machine.ramBlock("rom").orElseThrow().page(0).fill((byte) 0xc3);
        counter.ticks = 0xfffffffeL;
        counter.offset = -12345;
        counter.enabled = true;
        counter.regs = new long[] {1, 0xffff, 3, 4};
        counter.label = "livemig!".getBytes(StandardCharsets.US_ASCII);
        counter.extra = seed;
        journal.text = ("journal of seed " + seed).getBytes(StandardCharsets.US_ASCII);
        return this;
    }

    /** Empty string when the other guest holds the same state, else what differs. */
    String differencesFrom(TestGuest other) {
        var sb = new StringBuilder();
        for (RamBlock b : machine.ramBlocks()) {
            long at = b.memory().mismatch(other.machine.ramBlock(b.name()).orElseThrow().memory());
            if (at >= 0) {
                sb.append("RAM ").append(b.name()).append(" differs at 0x").append(Long.toHexString(at)).append("; ");
            }
        }
        if (!counter.sameAs(other.counter)) {
            sb.append("counter differs; ");
        }
        if (!Arrays.equals(journal.text, other.journal.received.toByteArray())) {
            sb.append("journal differs: ").append(new String(other.journal.received.toByteArray(), StandardCharsets.US_ASCII)).append("; ");
        }
        return sb.toString();
    }

    @Override
    public void close() {
        machine.close();
    }
}
