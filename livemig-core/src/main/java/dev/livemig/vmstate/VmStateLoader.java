package dev.livemig.vmstate;

import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;

/**
 * Reads an object by its description at a given version: version checks (§4.7), {@code pre_load}, the fields
 * that exist at that version (§4.3), subsections (§4.6, via {@link SubsectionPeek}), {@code post_load}. Values
 * are checked ({@link VmStateType.Check}) before they are stored.
 */
final class VmStateLoader {
    private VmStateLoader() {
    }

    static <T> void load(StreamReader r, VmStateDescription<T> d, T object, int version, String path)
            throws MigrationException {
        if (version > d.versionId()) {
            throw r.error("incoming version too new: vmsd=" + d.name() + " version=" + version
                    + " local_version=" + d.versionId());
        }
        if (version < d.minimumVersionId()) {
            throw r.error("incoming version too old: vmsd=" + d.name() + " version=" + version
                    + " minimum_version=" + d.minimumVersionId());
        }
        try {
            d.hooks().preLoad().run(object);
        } catch (MigrationException e) {
            throw FieldErrors.inHook(e, d.name(), "pre_load", r);
        }
        for (VmStateField<T> f : d.fields()) {
            if (f.presence().includedIn(object, version)) {
                loadField(r, f, object, path);
            }
        }
        Subsection<T> sub;
        while ((sub = SubsectionPeek.next(r, d)) != null) {
            VmStateDescription<T> sd = sub.description();
            int subVersion;
            try {
                subVersion = r.be32() & 0xff; // QEMU keeps only the low 8 bits
            } catch (MigrationException e) {
                throw FieldErrors.inField(e, sd.name() + "(version)");
            }
            load(r, sd, object, subVersion, sd.name());
        }
        try {
            d.hooks().postLoad().run(object, version);
        } catch (MigrationException e) {
            throw FieldErrors.inHook(e, d.name(), "post_load", r);
        }
    }

    private static <T> void loadField(StreamReader r, VmStateField<T> f, T object, String path)
            throws MigrationException {
        int n = ElementCount.of(f, object, false, (message, field) -> FieldErrors.onLoad(r, message, field), path);
        for (int i = 0; i < n; i++) {
            String where = ElementCount.isArray(f) ? path + "." + f.name() + "[" + i + "]" : path + "." + f.name();
            switch (f) {
                case VmStateField.Scalar<T> s -> s.set().accept(object, value(r, s.type(), s.get().applyAsLong(object), where));
                case VmStateField.IntArray<T> a -> {
                    long[] values = a.values().apply(object);
                    values[i] = value(r, a.type(), values[i], where);
                }
                case VmStateField.Buffer<T> b -> System.arraycopy(bytes(r, b.size(), where), 0, b.bytes().apply(object), 0, b.size());
                // the length was bounded by the declared maximum in ElementCount
                case VmStateField.VBuffer<T> b -> b.set().accept(object, bytes(r, (int) b.length().applyAsLong(object), where));
                case VmStateField.Unused<T> u -> bytes(r, u.size(), where);
                case VmStateField.Struct<T, ?> s -> loadStruct(r, s, object, where);
                case VmStateField.StructArray<T, ?> s -> loadStructElement(r, s, object, i, where);
            }
        }
    }

    /** Reads one value and applies its type's check against the destination's current value. */
    private static long value(StreamReader r, VmStateType type, long current, String where) throws MigrationException {
        long start = r.offset();
        long loaded;
        try {
            loaded = type.read(r);
        } catch (MigrationException e) {
            throw FieldErrors.inField(e, where);
        }
        switch (type.check()) {
            case NONE -> {
            }
            case EQUAL -> {
                if (loaded != type.normalize(current)) {
                    throw r.errorAt(start, "value differs from the destination's: field=" + where
                            + " loaded=0x" + Long.toHexString(loaded) + " current=0x" + Long.toHexString(current));
                }
            }
            case AT_MOST_CURRENT -> {
                if (loaded < 0 || loaded > current) {
                    throw r.errorAt(start, "value outside [0, current]: field=" + where
                            + " loaded=" + loaded + " current=" + current);
                }
            }
        }
        return loaded;
    }

    private static byte[] bytes(StreamReader r, int n, String where) throws MigrationException {
        try {
            return r.bytes(n);
        } catch (MigrationException e) {
            throw FieldErrors.inField(e, where);
        }
    }

    private static <T, S> void loadStruct(StreamReader r, VmStateField.Struct<T, S> s, T object, String where)
            throws MigrationException {
        VmStateDescription<S> d = s.description();
        load(r, d, s.element().apply(object), d.versionId(), where);
    }

    private static <T, S> void loadStructElement(StreamReader r, VmStateField.StructArray<T, S> s, T object, int i,
                                                 String where) throws MigrationException {
        VmStateDescription<S> d = s.description();
        load(r, d, s.elements().apply(object).get(i), d.versionId(), where);
    }
}
