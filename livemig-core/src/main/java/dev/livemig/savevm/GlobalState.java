package dev.livemig.savevm;

import dev.livemig.machine.RunState;
import dev.livemig.vmstate.VmStateDescription;
import dev.livemig.wire.MigrationException;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The "globalstate" section (§18.1): the run state the source had when it stopped, so that the destination
 * resumes only a machine that was running. Wire form: be32 size (name length with its NUL), 100 bytes of
 * NUL-terminated, zero-padded name.
 */
public final class GlobalState {
    /** The section's idstr, as QEMU's. */
    public static final String IDSTR = "globalstate";
    private static final int NAME_BYTES = 100;

    /** Only {@link StandardSections} makes one per machine. */
    GlobalState() {
    }

    private long size;
    private final byte[] runstate = new byte[NAME_BYTES];
    private RunState received;

    /**
     * QEMU's vmstate_globalstate (version 1): uint32 size and the 100-byte name; a received name is parsed after load.
     */
    public static final VmStateDescription<GlobalState> DESCRIPTION = VmStateDescription.<GlobalState>builder(IDSTR)
            .version(1)
            .minimumVersion(1)
            .uint32("size", g -> g.size, (g, v) -> g.size = v)
            .buffer("runstate", NAME_BYTES, g -> g.runstate)
            .postLoad((g, version) -> g.parse())
            .build();

    /** Records the state to send. */
    public void store(RunState state) {
        byte[] name = state.qemuName().getBytes(StandardCharsets.US_ASCII);
        Arrays.fill(runstate, (byte) 0);
        System.arraycopy(name, 0, runstate, 0, name.length);
        size = name.length + 1;
    }

    /** The state received from the source, or null when no globalstate section arrived. */
    public RunState received() {
        return received;
    }

    private void parse() throws MigrationException {
        int len = 0;
        while (len < NAME_BYTES && runstate[len] != 0) {
            len++;
        }
        if (len == NAME_BYTES) {
            throw new MigrationException("globalstate run state is not NUL-terminated");
        }
        String name = new String(runstate, 0, len, StandardCharsets.US_ASCII);
        RunState state = RunState.byQemuName(name);
        if (state == null) {
            throw new MigrationException("globalstate names an unknown run state: runstate=" + name);
        }
        received = state;
    }
}
