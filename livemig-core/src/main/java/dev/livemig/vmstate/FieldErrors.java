package dev.livemig.vmstate;

import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;

/**
 * Builds the errors of VMState processing, so that every one names the field ({@code field=vmsd.name[i]}) and
 * keeps the stream offset and section of the fault.
 */
final class FieldErrors {
    private FieldErrors() {
    }

    /** An error found while saving, at the writer's offset. */
    static MigrationException onSave(String message, String field, long offset) {
        return new MigrationException(message + ": field=" + field, null, offset, null);
    }

    /** An error found while loading, at the reader's current offset. */
    static MigrationException onLoad(StreamReader r, String message, String field) {
        return r.error(message + ": field=" + field);
    }

    /** A reader error (truncation, I/O) given the field it happened in; same offset and section. */
    static MigrationException inField(MigrationException e, String field) {
        return new MigrationException(e.bareMessage() + ": field=" + field, e.section(), e.offset(), e);
    }

    /**
     * A hook's error: kept as it is if it already has an offset, otherwise given the vmsd, the hook and the
     * reader's offset.
     */
    static MigrationException inHook(MigrationException e, String vmsd, String hook, StreamReader r) {
        if (e.offset() >= 0) {
            return e;
        }
        return new MigrationException(hook + " failed: vmsd=" + vmsd + ": " + e.getMessage(), r.section(), r.offset(), e);
    }
}
