package dev.livemig.savevm;

import dev.livemig.machine.Machine;
import dev.livemig.machine.Registration;
import dev.livemig.ram.RamFlags;
import dev.livemig.ram.RamHandler;

/**
 * The sections every machine carries, as QEMU's do: "ram" (live, instance 0, version 4) and "globalstate"
 * (device, instance 0). {@link #of} registers them on first use and finds them afterwards: "ram" before every
 * other entry and "globalstate" after every other entry, whenever either is registered, as in QEMU's streams;
 * the save order does not depend on who asks first.
 */
public record StandardSections(RamHandler ram, GlobalState globalState) {

    /**
     * The machine's standard sections, registered now if they are not yet (a migration or snapshot calls this
     * itself). Thread-safe.
     *
     * @throws IllegalStateException if "ram" or "globalstate" is registered to something else
     */
    public static synchronized StandardSections of(Machine machine) {
        var devices = machine.devices();
        RamHandler ram = switch (devices.find(RamFlags.IDSTR, 0).orElse(null)) {
            case null -> {
                var handler = new RamHandler(machine.ramBlocks(), machine.hostFeatures(), machine.dirtyTracking(), machine.compat());
                devices.registerLiveFirst(RamFlags.IDSTR, 0, RamFlags.SECTION_VERSION, handler);
                yield handler;
            }
            case Registration.Live live when live.handler() instanceof RamHandler r -> r;
            case Registration other -> throw new IllegalStateException("idstr \"ram\" is taken by " + other);
        };
        GlobalState global = switch (devices.find(GlobalState.IDSTR, 0).orElse(null)) {
            case null -> {
                var g = new GlobalState();
                devices.registerLast(GlobalState.IDSTR, 0, GlobalState.DESCRIPTION, g);
                yield g;
            }
            case Registration.Device<?> d when d.state() instanceof GlobalState g -> g;
            case Registration other -> throw new IllegalStateException("idstr \"globalstate\" is taken by " + other);
        };
        return new StandardSections(ram, global);
    }
}
