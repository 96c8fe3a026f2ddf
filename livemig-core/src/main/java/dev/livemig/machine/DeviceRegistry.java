package dev.livemig.machine;

import dev.livemig.json.Json;
import dev.livemig.vmstate.VmStateDescription;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The ordered list of state a machine migrates, keyed by (idstr, instance id): QEMU's savevm handler list.
 *
 * <p>Entries are saved in registration order. Section ids are assigned from a counter in registration
 * order, like QEMU's, but starting at 1: a QEMU destination remembers id 0 for every handler that has not
 * started yet, so a PART with id 0 would be dispatched to the wrong device there (seen with 7.2). An instance id of {@link #AUTO_INSTANCE} picks one more than the highest instance already
 * registered under the same idstr (QEMU's rule). Registration is expected before a migration starts;
 * the registry is thread-safe so that a migration can take a consistent {@link #snapshot()}.
 */
public final class DeviceRegistry {
    /** An instance id that asks the registry to choose one: QEMU's VMSTATE_INSTANCE_ID_ANY. */
    public static final int AUTO_INSTANCE = -1;

    private final List<Registration> entries = new ArrayList<>();
    private int keptLast; // how many entries at the end stay after everything registered later (registerLast)

    /** A {@link Machine}'s own (and its tests'). */
    DeviceRegistry() {
    }
    private int nextSectionId = 1;

    /** Registers declarative device state; returns the entry (whose instance id may have been assigned). */
    public synchronized <T> Registration.Device<T> register(String idstr, int instanceId, VmStateDescription<T> description, T state) {
        var entry = new Registration.Device<>(checkIdstr(idstr), instance(idstr, instanceId), nextSectionId++, description, state);
        entries.add(entries.size() - keptLast, entry);
        return entry;
    }

    /** Registers iterative (live) state. */
    public synchronized Registration.Live registerLive(String idstr, int instanceId, int versionId, LiveStateHandler handler) {
        var entry = new Registration.Live(checkIdstr(idstr), instance(idstr, instanceId), nextSectionId++, versionId, handler);
        entries.add(entries.size() - keptLast, entry);
        return entry;
    }

    /**
     * Registers iterative state to be saved before every entry, whenever it is registered: QEMU's "ram" handler
     * is set up before any device, so a machine whose application registered its devices first still sends RAM
     * first (the section id is still the next one: ids need not follow the order).
     */
    public synchronized Registration.Live registerLiveFirst(String idstr, int instanceId, int versionId, LiveStateHandler handler) {
        var entry = new Registration.Live(checkIdstr(idstr), instance(idstr, instanceId), nextSectionId++, versionId, handler);
        entries.addFirst(entry);
        return entry;
    }

    /**
     * Registers declarative state to be saved after every entry, whenever they are registered: QEMU's
     * "globalstate" (the run state the destination resumes in) ends its streams.
     */
    public synchronized <T> Registration.Device<T> registerLast(String idstr, int instanceId, VmStateDescription<T> description, T state) {
        var entry = new Registration.Device<>(checkIdstr(idstr), instance(idstr, instanceId), nextSectionId++, description, state);
        entries.add(entry);
        keptLast++;
        return entry;
    }

    /** Registers a section carried through unchanged (see {@link Registration.Opaque}). */
    public synchronized Registration.Opaque registerOpaque(String idstr, int instanceId, int versionId, byte[] data, Json.Obj description) {
        var entry = new Registration.Opaque(checkIdstr(idstr), instance(idstr, instanceId), nextSectionId++, versionId, data.clone(), description);
        entries.add(entries.size() - keptLast, entry);
        return entry;
    }

    /** Removes the entry registered under (idstr, instance id); returns whether there was one. */
    public synchronized boolean unregister(String idstr, int instanceId) {
        for (int i = 0; i < entries.size(); i++) {
            Registration e = entries.get(i);
            if (e.idstr().equals(idstr) && e.instanceId() == instanceId) {
                if (i >= entries.size() - keptLast) { // one of the entries kept last
                    keptLast--;
                }
                entries.remove(i);
                return true;
            }
        }
        return false;
    }

    /** The entry registered under (idstr, instance id), if any; {@link #AUTO_INSTANCE} matches nothing. */
    public synchronized Optional<Registration> find(String idstr, int instanceId) {
        for (Registration e : entries) {
            if (e.idstr().equals(idstr) && e.instanceId() == instanceId) {
                return Optional.of(e);
            }
        }
        return Optional.empty();
    }

    /** The entries in save order, as an immutable list. */
    public synchronized List<Registration> snapshot() {
        return List.copyOf(entries);
    }

    private static String checkIdstr(String idstr) {
        if (idstr == null || idstr.isEmpty() || idstr.length() > 255) {
            throw new IllegalArgumentException("idstr must have 1..255 characters: \"" + idstr + "\"");
        }
        return idstr;
    }

    private int instance(String idstr, int requested) {
        if (requested == AUTO_INSTANCE) {
            int next = 0;
            for (Registration e : entries) {
                if (e.idstr().equals(idstr) && e.instanceId() >= next) {
                    next = e.instanceId() + 1;
                }
            }
            return next;
        }
        if (requested < 0) {
            throw new IllegalArgumentException("instance id must be >= 0 or AUTO_INSTANCE: " + requested);
        }
        if (find(idstr, requested).isPresent()) {
            throw new IllegalArgumentException("already registered: idstr=" + idstr + " instance_id=" + requested);
        }
        return requested;
    }
}
