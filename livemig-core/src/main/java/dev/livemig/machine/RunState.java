package dev.livemig.machine;

/** A machine's run state, with QEMU's RunState names (as carried by the globalstate section). */
public enum RunState {
    RUNNING("running"),
    PAUSED("paused"),
    PRELAUNCH("prelaunch"),
    SUSPENDED("suspended"),
    FINISH_MIGRATE("finish-migrate"),
    INMIGRATE("inmigrate"),
    POSTMIGRATE("postmigrate"),
    DEBUG("debug"),
    INTERNAL_ERROR("internal-error"),
    IO_ERROR("io-error"),
    RESTORE_VM("restore-vm"),
    SAVE_VM("save-vm"),
    SHUTDOWN("shutdown"),
    WATCHDOG("watchdog"),
    GUEST_PANICKED("guest-panicked"),
    COLO("colo");

    private final String qemuName;

    RunState(String qemuName) {
        this.qemuName = qemuName;
    }

    /** QEMU's name of the state, as QMP's query-status and the globalstate section write it. */
    public String qemuName() {
        return qemuName;
    }

    /** The state with QEMU's name {@code name}, or null when there is none. */
    public static RunState byQemuName(String name) {
        for (RunState s : values()) {
            if (s.qemuName.equals(name)) {
                return s;
            }
        }
        return null;
    }

    /** QEMU's runstate_needs_reset: the guest cannot simply be continued (cont is refused). */
    public boolean needsReset() {
        return this == INTERNAL_ERROR || this == SHUTDOWN || this == GUEST_PANICKED;
    }

    /** True when guest code may run and change memory. */
    public boolean isRunning() {
        return this == RUNNING;
    }
}
