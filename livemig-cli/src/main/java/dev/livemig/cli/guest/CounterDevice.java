package dev.livemig.cli.guest;

import dev.livemig.vmstate.VmStateDescription;
import dev.livemig.vmstate.VmStateType;

/**
 * The demo guest's counter: one field of each common width, an array, and a subsection with the recent
 * round times (sent only once a round has completed), updated by the guest at the end of every sweep.
 */
public final class CounterDevice {
    private long rounds;          // uint32
    private long flags;           // uint8
    private long temperature;     // int16, may be negative
    private long offset;          // int64
    private long lastRoundNanos;  // uint64
    private boolean enabled = true;
    private final long[] regs = new long[4]; // uint16[4]
    private final long[] history = new long[8]; // uint64[8], in the subsection

    static final VmStateDescription<CounterDevice> HISTORY = VmStateDescription.<CounterDevice>builder("counter/history")
            .version(1).minimumVersion(1)
            .array(VmStateType.UINT64, "history", 8, c -> c.history)
            .build();

    public static final VmStateDescription<CounterDevice> DESCRIPTION = VmStateDescription.<CounterDevice>builder("counter")
            .version(2).minimumVersion(1)
            .uint32("rounds", c -> c.rounds, (c, v) -> c.rounds = v)
            .uint8("flags", c -> c.flags, (c, v) -> c.flags = v)
            .int16("temperature", c -> c.temperature, (c, v) -> c.temperature = v)
            .int64("offset", c -> c.offset, (c, v) -> c.offset = v).since(2)
            .uint64("last_round_ns", c -> c.lastRoundNanos, (c, v) -> c.lastRoundNanos = v)
            .bool("enabled", c -> c.enabled, (c, v) -> c.enabled = v)
            .array(VmStateType.UINT16, "regs", 4, c -> c.regs)
            .subsection(HISTORY, c -> c.rounds > 0)
            .build();

    public synchronized void roundDone(long round, long nanos) {
        rounds = round & 0xffff_ffffL;
        flags = round & 0xff;
        temperature = (short) (20 - (round % 50));
        offset = -round * 4096;
        lastRoundNanos = nanos;
        regs[(int) (round % 4)] = round & 0xffff;
        history[(int) (round % 8)] = nanos;
    }

    public synchronized long rounds() {
        return rounds;
    }
}
