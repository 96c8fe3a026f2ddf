package dev.livemig.vmstate;

import dev.livemig.json.Json;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamWriter;
import dev.livemig.wire.format.WireFormat;

import java.util.ArrayList;
import java.util.List;

/**
 * Writes an object by its description (§4.3, §4.6) and builds, as it goes, the vmsd JSON object QEMU 7.2 puts
 * in the trailer (§5.3): one field object per written field, or per element for non-compressible arrays, each
 * with the byte count actually written.
 */
final class VmStateSaver {
    private VmStateSaver() {
    }

    static <T> Json.Obj save(StreamWriter w, VmStateDescription<T> d, T object, String path) throws MigrationException {
        d.hooks().preSave().run(object);
        int version = d.versionId();
        List<Json> fields = new ArrayList<>();
        for (int i = 0; i < d.fields().size(); i++) {
            VmStateField<T> f = d.fields().get(i);
            if (f.presence().includedIn(object, version)) {
                saveField(w, f, d.jsonName(i), object, path, fields);
            }
        }
        var json = Json.object().put("vmsd_name", d.name()).put("version", version).put("fields", new Json.Arr(fields));
        List<Json> written = new ArrayList<>();
        for (Subsection<T> s : d.subsections()) {
            if (s.needed().test(object)) {
                VmStateDescription<T> sub = s.description();
                w.u8(WireFormat.SUBSECTION).str8(sub.name()).be32(sub.versionId());
                written.add(save(w, sub, object, sub.name()));
            }
        }
        if (!written.isEmpty()) {
            json.put("subsections", new Json.Arr(written));
        }
        return json.build();
    }

    private static <T> void saveField(StreamWriter w, VmStateField<T> f, String jsonName, T object, String path,
                                      List<Json> out) throws MigrationException {
        int n = ElementCount.of(f, object, true, (message, field) -> FieldErrors.onSave(message, field, w.offset()), path);
        boolean compress = f.compressible();
        for (int i = 0; i < n; i++) {
            String where = ElementCount.isArray(f) ? path + "." + f.name() + "[" + i + "]" : path + "." + f.name();
            long start = w.offset();
            Json.Obj nested = saveElement(w, f, object, i, where);
            if (i == 0 || !compress) {
                var json = Json.object().put("name", jsonName);
                if (n > 1) {
                    json.put(compress ? "array_len" : "index", compress ? n : i);
                }
                json.put("type", f.jsonType());
                if (nested != null) {
                    json.put("struct", nested);
                }
                out.add(json.put("size", w.offset() - start).build());
            }
        }
    }

    /** Writes element {@code i}; returns the nested vmsd JSON for structures, else null. */
    private static <T> Json.Obj saveElement(StreamWriter w, VmStateField<T> f, T object, int i, String where)
            throws MigrationException {
        switch (f) {
            case VmStateField.Scalar<T> s -> s.type().write(w, s.get().applyAsLong(object));
            case VmStateField.IntArray<T> a -> a.type().write(w, a.values().apply(object)[i]);
            case VmStateField.Buffer<T> b -> w.bytes(b.bytes().apply(object), 0, b.size());
            case VmStateField.VBuffer<T> b -> w.bytes(b.get().apply(object), 0, (int) b.length().applyAsLong(object));
            case VmStateField.Unused<T> u -> w.bytes(new byte[u.size()]);
            case VmStateField.Struct<T, ?> s -> {
                return saveStruct(w, s, object, where);
            }
            case VmStateField.StructArray<T, ?> s -> {
                return saveStructElement(w, s, object, i, where);
            }
        }
        return null;
    }

    private static <T, S> Json.Obj saveStruct(StreamWriter w, VmStateField.Struct<T, S> s, T object, String where)
            throws MigrationException {
        return save(w, s.description(), s.element().apply(object), where);
    }

    private static <T, S> Json.Obj saveStructElement(StreamWriter w, VmStateField.StructArray<T, S> s, T object, int i,
                                                     String where) throws MigrationException {
        return save(w, s.description(), s.elements().apply(object).get(i), where);
    }
}
