package dev.livemig.vmstate;

import dev.livemig.json.Json;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;

/**
 * Saves and loads objects by their {@link VmStateDescription}, in QEMU 7.2's VMState encoding (§4).
 *
 * <p>{@link #save} writes the object at the description's current version, running {@code pre_save} hooks, and
 * returns the vmsd JSON object of what was written ({@code vmsd_name}, {@code version}, {@code fields}, and
 * {@code subsections} when any was written; §5.3) for the caller to place in a device entry of the trailer.
 * {@link #load} reads at the version the stream announced. Both are called on the migration thread with the
 * object quiescent; neither keeps state between calls. Every failure is a {@link MigrationException} naming
 * the vmsd or field ({@code field=vmsd.name[i]}) and carrying the stream offset; on a failed load the object
 * may be partly loaded.
 */
public final class VmStateCodec {
    private VmStateCodec() {
    }

    /** Writes {@code object} at the description's version; returns its vmsd JSON object for the trailer. */
    public static <T> Json.Obj save(StreamWriter w, VmStateDescription<T> description, T object)
            throws MigrationException {
        return VmStateSaver.save(w, description, object, description.name());
    }

    /**
     * Reads {@code object} as written at {@code versionId}; refused (a MigrationException) when that is newer
     * than the description's version or older than its minimum.
     */
    public static <T> void load(StreamReader r, VmStateDescription<T> description, T object, int versionId)
            throws MigrationException {
        VmStateLoader.load(r, description, object, versionId, description.name());
    }
}
