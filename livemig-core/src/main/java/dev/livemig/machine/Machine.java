package dev.livemig.machine;

import dev.livemig.machine.HostFeatures;
import dev.livemig.machine.KernelFeature;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * The migrated "guest": named RAM blocks held off-heap, registered device state, and a run state.
 *
 * <p>The application owns the mutators (the threads that change RAM and devices) and supplies the pause and
 * resume hooks; livemig calls {@link #pause()} at switchover and {@link #resume()} on the destination, and the
 * hooks must stop or restart every mutator before returning. {@code name} is the machine type written in the
 * configuration record (QEMU's, e.g. {@code pc-i440fx-7.2}); source and destination must agree on it and on
 * the RAM block list. Closing the machine releases its RAM.
 */
public final class Machine implements AutoCloseable {
    /** The application's run-state hooks. */
    public interface RunStateHooks {
        /**
         * Stops every mutator: when it returns, none changes RAM or device state any more. Called with the
         * machine's lock held, only when the machine goes from running to a non-running state.
         */
        void pause();

        /** Restarts the mutators; called with the machine's lock held, only when the machine goes back to running. */
        void resume();

        /** Hooks that do nothing: for a machine whose state nothing changes on its own (the builder's default). */
        RunStateHooks NONE = new RunStateHooks() {
            @Override
            public void pause() {
            }

            @Override
            public void resume() {
            }
        };
    }

    private final String name;
    private final Arena arena;
    private final Map<String, RamBlock> ram;
    private final DeviceRegistry devices = new DeviceRegistry();
    private final MigrationBlockers blockers = new MigrationBlockers();
    private final RunStateHooks hooks;
    private final CpuThrottle cpuThrottle = new CpuThrottle();
    private final HostFeatures hostFeatures;
    private final DirtyTrackerChoice dirtyTracking;
    private final MachineCompat compat;
    private final java.util.UUID uuid;
    private volatile RunState runState;

    private Machine(Builder b) {
        this.name = b.name;
        this.arena = b.arena;
        this.hostFeatures = b.hostFeatures != null ? b.hostFeatures : HostFeatures.fromSystemProperties();
        this.dirtyTracking = new DirtyTrackerChoice(hostFeatures);
        this.compat = b.compat != null ? b.compat : MachineCompat.forMachineType(b.name);
        this.uuid = b.uuid;
        var blocks = new LinkedHashMap<String, RamBlock>();
        try {
            b.ram.forEach((blockName, block) -> blocks.put(blockName, block.apply(hostFeatures)));
        } catch (RuntimeException | OutOfMemoryError e) {
            arena.close(); // the blocks mapped so far
            throw e;
        }
        this.ram = Collections.unmodifiableMap(blocks);
        this.hooks = b.hooks;
        this.runState = b.initialState;
    }

    /**
     * Starts building a machine of this machine type ({@code pc-i440fx-7.2}, say).
     *
     * @throws IllegalArgumentException if {@code name} has not 1 to 255 characters (a configuration record's limit)
     */
    public static Builder builder(String name) {
        return new Builder(name);
    }

    /** The throttle auto-converge sets; the application's mutators pace themselves by it. */
    public CpuThrottle cpuThrottle() {
        return cpuThrottle;
    }

    /** The kernel features this machine's migrations may use (those the host offers, less those switched off). */
    public HostFeatures hostFeatures() {
        return hostFeatures;
    }

    /** Opens the dirty tracker for this machine's migrations (probed once per machine, see {@link DirtyTrackerChoice}). */
    public DirtyTrackerChoice dirtyTracking() {
        return dirtyTracking;
    }

    /** The wire dialect this machine's outgoing streams speak (from its machine type unless the builder set one). */
    public MachineCompat compat() {
        return compat;
    }

    /**
     * The VM's UUID (QEMU's {@code -uuid}), if one was set: multifd channels announce it (all zero without one) and
     * expect the source's to be the same; with capability validate-uuid a source sends it for the destination
     * to check.
     */
    public java.util.Optional<java.util.UUID> uuid() {
        return java.util.Optional.ofNullable(uuid);
    }

    /** The machine type name (configuration record). */
    public String name() {
        return name;
    }

    /** RAM blocks in list order (the order of the MEM_SIZE record). */
    public List<RamBlock> ramBlocks() {
        return List.copyOf(ram.values());
    }

    /** The RAM block of this name, if the machine has one. */
    public Optional<RamBlock> ramBlock(String blockName) {
        return Optional.ofNullable(ram.get(blockName));
    }

    /** Sum of all blocks' used lengths. */
    public long ramSize() {
        return ram.values().stream().mapToLong(RamBlock::usedLength).sum();
    }

    /** The state this machine migrates besides RAM: register devices and live state here before migrating. */
    public DeviceRegistry devices() {
        return devices;
    }

    /** The reasons that refuse a migration or snapshot of this machine while any is present. */
    public MigrationBlockers blockers() {
        return blockers;
    }

    /** The current run state; another thread may change it right after (decide with {@link #enterIf}). */
    public RunState runState() {
        return runState;
    }

    /**
     * Stops the mutators (through the hooks) and enters {@code target}, a non-running state; returns the state
     * it left, so that a caller learns atomically whether it was the one that stopped the guest.
     */
    public synchronized RunState pause(RunState target) {
        if (target.isRunning()) {
            throw new IllegalArgumentException("not a paused state: " + target);
        }
        RunState before = runState;
        if (runState.isRunning()) {
            hooks.pause();
        }
        runState = target;
        return before;
    }

    /** Enters {@link RunState#PAUSED}, stopping the mutators first if the machine runs (QMP {@code stop}). */
    public void pause() {
        pause(RunState.PAUSED);
    }

    /** Work done on a still machine ({@link #whilePaused}); may throw the caller's checked exception. */
    @FunctionalInterface
    public interface StillWork<T, E extends Exception> {
        /** Does the work, with the machine's lock held: it must not wait for a thread that uses the machine. */
        T run() throws E;
    }

    /**
     * Runs {@code work} with the machine paused: pauses it first if it runs and resumes it afterwards, and no
     * other pause or resume (a QMP {@code cont}, say) can come in between. Reading guest memory page by page
     * while its mutators run gives a state that never existed.
     */
    public synchronized <T, E extends Exception> T whilePaused(StillWork<T, E> work) throws E {
        RunState before = pause(runState.isRunning() ? RunState.PAUSED : runState);
        try {
            return work.run();
        } finally {
            if (before.isRunning()) {
                resume();
            }
        }
    }

    /** Restarts the mutators (through the hooks). */
    public synchronized void resume() {
        if (!runState.isRunning()) {
            hooks.resume();
            runState = RunState.RUNNING;
        }
    }

    /**
     * Enters {@code next} only if the machine is still in {@code expected}; false (and no change) otherwise.
     * A command that decided on a state it read (QMP stop, cont) applies only to that state, not to one a
     * migration moved the machine into meanwhile (finish-migrate).
     */
    public synchronized boolean enterIf(RunState expected, RunState next) {
        if (runState != expected) {
            return false;
        }
        enter(next);
        return true;
    }

    /**
     * Enters {@code state}, running or not (e.g. the state received from a source): through {@link #resume()} or
     * {@link #pause(RunState)}, so the hooks are called only when it changes whether the machine runs.
     */
    public synchronized void enter(RunState state) {
        if (state.isRunning()) {
            resume();
        } else {
            pause(state);
        }
    }

    @Override
    public void close() {
        arena.close();
    }

    /**
     * How a machine starts: its RAM blocks, hooks, initial run state, host features, dialect and UUID. Not
     * thread-safe; build one machine per builder (the machine owns the builder's {@link #arena()}).
     */
    public static final class Builder {
        private final String name;
        private final Arena arena = Arena.ofShared();
        /** Anonymous blocks are mapped by build(), once the host features (huge pages or not) are known. */
        private final Map<String, Function<HostFeatures, RamBlock>> ram = new LinkedHashMap<>();
        private RunStateHooks hooks = RunStateHooks.NONE;
        private RunState initialState = RunState.PAUSED;
        private HostFeatures hostFeatures;
        private MachineCompat compat;
        private java.util.UUID uuid;

        private Builder(String name) {
            if (name.isEmpty() || name.length() > 255) {
                throw new IllegalArgumentException("machine name must have 1..255 characters");
            }
            this.name = name;
        }

        /**
         * Adds an anonymous, zero-filled RAM block, advised for transparent huge pages unless the host features
         * switch {@code thp} off.
         */
        public Builder ram(String blockName, long size) {
            if (size <= 0 || size % RamBlock.TARGET_PAGE_SIZE != 0) {
                throw new IllegalArgumentException("RAM block " + blockName + " length must be a positive multiple of "
                        + RamBlock.TARGET_PAGE_SIZE + ": " + size);
            }
            return add(blockName, features -> RamBlock.anonymous(arena, blockName, size,
                    features.allows(KernelFeature.TRANSPARENT_HUGEPAGES)));
        }

        /** Adds a RAM block whose memory lives in {@link #arena()} (or outlives the machine). */
        public Builder ram(RamBlock block) {
            return add(block.name(), features -> block);
        }

        private Builder add(String blockName, Function<HostFeatures, RamBlock> block) {
            if (ram.putIfAbsent(blockName, block) != null) {
                throw new IllegalArgumentException("duplicate RAM block: " + blockName);
            }
            return this;
        }

        /** The arena that owns this machine's memory; map file-backed blocks in it. */
        public Arena arena() {
            return arena;
        }

        /** The application's pause and resume hooks (default {@link RunStateHooks#NONE}). */
        public Builder hooks(RunStateHooks runStateHooks) {
            this.hooks = runStateHooks;
            return this;
        }

        /** The run state the machine starts in (default paused: start mutators with {@link Machine#resume()}). */
        public Builder initialState(RunState state) {
            this.initialState = state;
            return this;
        }

        /**
         * The kernel features its migrations may use; default: {@link HostFeatures#fromSystemProperties()}
         * (every feature the host offers unless {@value HostFeatures#PROPERTY} switches some off).
         */
        public Builder hostFeatures(HostFeatures features) {
            this.hostFeatures = features;
            return this;
        }

        /**
         * The wire dialect of this machine's outgoing streams; default: {@link MachineCompat#forMachineType} of
         * its name (QEMU's choices for a QEMU machine type, current QEMU's otherwise).
         */
        public Builder compat(MachineCompat dialect) {
            this.compat = dialect;
            return this;
        }

        /** The VM's UUID, as QEMU's {@code -uuid} (default: none). */
        public Builder uuid(java.util.UUID vmUuid) {
            this.uuid = vmUuid;
            return this;
        }

        /**
         * Maps the anonymous RAM blocks and makes the machine; the first machine of a process also starts warming
         * up the migration code on a side thread. If mapping fails, the arena is closed with every block in it.
         */
        public Machine build() {
            Machine m = new Machine(this);
            MigrationWarmUp.start(m.dirtyTracking);
            return m;
        }
    }
}
