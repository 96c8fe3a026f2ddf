package dev.livemig.machine;

import dev.livemig.json.Json;
import dev.livemig.vmstate.VmStateDescription;

/**
 * One entry of a machine's state list: what is saved under an (idstr, instance id) and how.
 * {@code sectionId} is the number this entry's sections carry on the wire (assigned in registration order).
 */
public sealed interface Registration {
    /** The name sections of this entry carry, as QEMU's (e.g. {@code ram}, {@code timer}); 1 to 255 characters. */
    String idstr();

    /** Which of several entries with the same idstr this is, from 0. */
    int instanceId();

    /** The number this entry's sections carry on the wire: unique in the machine, from 1, in registration order. */
    int sectionId();

    /** The version of the state's format: written in section headers, and the newest a destination loads. */
    int versionId();

    /** Declarative device state (QEMU's VMState), saved in one FULL section. */
    record Device<T>(String idstr, int instanceId, int sectionId, VmStateDescription<T> description, T state)
            implements Registration {
        @Override
        public int versionId() {
            return description.versionId();
        }
    }

    /** Iterative state (QEMU's SaveVMHandlers), saved in START/PART/END sections. */
    record Live(String idstr, int instanceId, int sectionId, int versionId, LiveStateHandler handler)
            implements Registration {
    }

    /**
     * A FULL section livemig does not model, carried through unchanged: its raw bytes and the device object that
     * described it in the source's vmdescription (so that it can be described again).
     */
    record Opaque(String idstr, int instanceId, int sectionId, int versionId, byte[] data, Json.Obj description)
            implements Registration {
    }
}
