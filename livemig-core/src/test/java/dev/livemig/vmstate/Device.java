package dev.livemig.vmstate;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * A device exercising every field kind: a variable array and buffer sized by earlier fields, a compressible
 * struct, a struct array whose element has a subsection, and nested subsections.
 */
final class Device {
    static final int MAX_REGS = 16;
    static final int MAX_BLOB = 64;

    long count;
    long[] regs = new long[MAX_REGS];
    boolean enabled;
    long blobLen;
    byte[] blob = new byte[0];
    byte[] label = new byte[8];
    long deadline;
    long bias;
    final Clock clock = new Clock();
    final List<Slot> slots = List.of(new Slot(), new Slot(), new Slot());
    boolean extra;
    long extraValue;
    boolean more;
    long moreValue;
    int postLoads;

    static final class Clock {
        long ticks;
        long[] history = new long[4];

        static final VmStateDescription<Clock> VMSD = VmStateDescription.<Clock>builder("clock").version(1)
                .int64("ticks", c -> c.ticks, (c, v) -> c.ticks = v)
                .array(VmStateType.INT32, "history", 4, c -> c.history)
                .build();
    }

    static final class Slot {
        long id;
        boolean busy;
        long payload;

        static final VmStateDescription<Slot> VMSD = VmStateDescription.<Slot>builder("slot").version(3).minimumVersion(1)
                .uint8("id", s -> s.id, (s, v) -> s.id = v)
                .bool("busy", s -> s.busy, (s, v) -> s.busy = v)
                .subsection(VmStateDescription.<Slot>builder("slot/payload").version(1)
                        .uint32("payload", s -> s.payload, (s, v) -> s.payload = v).build(), s -> s.busy)
                .build();
    }

    static final VmStateDescription<Device> MORE = VmStateDescription.<Device>builder("device/extra/more").version(5)
            .uint16("more_value", d -> d.moreValue, (d, v) -> d.moreValue = v)
            .build();

    static final VmStateDescription<Device> EXTRA = VmStateDescription.<Device>builder("device/extra").version(2)
            .int32("extra_value", d -> d.extraValue, (d, v) -> d.extraValue = v)
            .subsection(MORE, d -> d.more)
            .build();

    static final VmStateDescription<Device> VMSD = VmStateDescription.<Device>builder("device").version(4).minimumVersion(2)
            .uint32("count", d -> d.count, (d, v) -> d.count = v)
            .varray(VmStateType.UINT16, "regs", d -> d.count, MAX_REGS, d -> d.regs)
            .bool("enabled", d -> d.enabled, (d, v) -> d.enabled = v)
            .int32("blob_len", d -> d.blobLen, (d, v) -> d.blobLen = v)
            .vbuffer("blob", d -> d.blobLen, MAX_BLOB, d -> d.blob, (d, b) -> d.blob = b)
            .buffer("label", 8, d -> d.label)
            .unused("reserved", 4).since(3)
            .timer("deadline", d -> d.deadline, (d, v) -> d.deadline = v)
            .int8("bias", d -> d.bias, (d, v) -> d.bias = v)
            .struct("clock", Clock.VMSD, d -> d.clock)
            .structArray("slots", 3, Slot.VMSD, d -> d.slots)
            .subsection(EXTRA, d -> d.extra)
            .postLoad((d, v) -> d.postLoads++)
            .build();

    static Device random(long seed) {
        var rnd = new Random(seed);
        var d = new Device();
        d.count = rnd.nextInt(MAX_REGS + 1);
        for (int i = 0; i < d.count; i++) {
            d.regs[i] = rnd.nextInt(1 << 16);
        }
        d.enabled = rnd.nextBoolean();
        d.blobLen = rnd.nextInt(MAX_BLOB + 1);
        d.blob = new byte[(int) d.blobLen];
        rnd.nextBytes(d.blob);
        rnd.nextBytes(d.label);
        d.deadline = rnd.nextBoolean() ? -1 : rnd.nextLong();
        d.bias = (byte) rnd.nextInt();
        d.clock.ticks = rnd.nextLong();
        for (int i = 0; i < 4; i++) {
            d.clock.history[i] = rnd.nextInt();
        }
        for (Slot s : d.slots) {
            s.id = rnd.nextInt(256);
            s.busy = rnd.nextBoolean();
            s.payload = s.busy ? rnd.nextLong() & 0xffff_ffffL : 0;
        }
        d.extra = rnd.nextBoolean();
        d.extraValue = d.extra ? rnd.nextInt() : 0;
        d.more = d.extra && rnd.nextBoolean();
        d.moreValue = d.more ? rnd.nextInt(1 << 16) : 0;
        return d;
    }

    /** Everything that travels, as text: two devices with equal states have equal snapshots. */
    String state() {
        var sb = new StringBuilder();
        sb.append(count).append(Arrays.toString(Arrays.copyOf(regs, (int) Math.min(count, MAX_REGS))))
                .append(enabled).append(blobLen).append(Arrays.toString(blob)).append(Arrays.toString(label))
                .append(deadline).append(' ').append(bias).append(' ').append(clock.ticks)
                .append(Arrays.toString(clock.history));
        for (Slot s : slots) {
            sb.append('[').append(s.id).append(s.busy).append(s.payload).append(']');
        }
        return sb.append(extraValue).append(' ').append(moreValue).toString();
    }
}
