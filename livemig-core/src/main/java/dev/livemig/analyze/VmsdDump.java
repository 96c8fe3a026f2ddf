package dev.livemig.analyze;

import dev.livemig.json.Json;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.format.WireFormat;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A device section as analyze-migration.py shows it, read by its vmdescription entry alone: integers as
 * zero-padded hex strings (a negative signed one followed by its decimal value in parentheses), bools as
 * JSON booleans, every other type as its bytes in hex separated by spaces, structures as objects, fields
 * with {@code array_len} as arrays, then each listed subsection under the name the stream gives it.
 * The description is untrusted: nesting and the number of values are bounded, and every inconsistency is a
 * {@link MigrationException} with the offset.
 */
final class VmsdDump {
    private static final int MAX_DEPTH = 64;
    private static final long MAX_VALUES = 16L << 20;

    private static final Set<String> SIGNED = Set.of("int8", "int16", "int32", "int32 equal", "int32 le", "int64",
            "int64 equal", "uint8 equal", "uint16 equal"); // the script reads the last two as signed
    private static final Set<String> UNSIGNED = Set.of("uint8", "uint16", "uint32", "uint32 equal", "uint64");

    private final StreamReader in;
    private long values;

    private VmsdDump(StreamReader in) {
        this.in = in;
    }

    /** Reads one section (or subsection) body described by {@code description} (its fields and subsections). */
    static Json.Obj read(StreamReader in, Json.Obj description) throws MigrationException {
        return new VmsdDump(in).structure(description, 0);
    }

    private Json.Obj structure(Json.Obj desc, int depth) throws MigrationException {
        if (depth > MAX_DEPTH) {
            throw in.error("vmdescription nested deeper than " + MAX_DEPTH);
        }
        Map<String, Json> out = new LinkedHashMap<>();
        // names whose list was built from "index" entries and may still take a last element without one: 10.0
        // describes an array's last element without "index" (its count of elements left is 1), and its script
        // gathers every entry of one name; 7.2 indexes every element, and a repeated name without index
        // (VMSTATE_UNUSED's "unused") replaces the value, as 7.2's script does (10.0 makes names unique)
        Set<String> openArrays = new java.util.HashSet<>();
        for (Json f : arrayOf(desc, "fields")) {
            if (!(f instanceof Json.Obj field)) {
                throw in.error("vmdescription field is not an object: " + f);
            }
            String name = text(field, "name");
            long count = field.has("array_len") ? number(field, "array_len") : -1;
            if (field.has("index")) { // one entry per element, as QEMU describes arrays of structures
                long index = number(field, "index");
                List<Json> list = out.get(name) instanceof Json.Arr a ? new ArrayList<>(a.elements()) : new ArrayList<>();
                if (list.size() != index) {
                    throw in.error(String.format("internal index of data field unmatched (%d/%d)", list.size(), index));
                }
                list.add(value(field, depth));
                out.put(name, new Json.Arr(list));
                openArrays.add(name);
                continue;
            }
            if (count < 0 && openArrays.remove(name) && out.get(name) instanceof Json.Arr a) {
                List<Json> list = new ArrayList<>(a.elements()); // 10.0: the array's last element
                list.add(value(field, depth));
                out.put(name, new Json.Arr(list));
                continue;
            }
            openArrays.remove(name);
            if (count < 0) {
                out.put(name, value(field, depth));
                continue;
            }
            // the script unfolds an array into elements 0..n-1, always reading element 0
            List<Json> elements = new ArrayList<>();
            for (long i = 0; i < Math.max(count, 1); i++) {
                elements.add(value(field, depth));
            }
            out.put(name, new Json.Arr(elements));
        }
        for (Json s : arrayOf(desc, "subsections")) {
            if (!(s instanceof Json.Obj sub)) {
                throw in.error("vmdescription subsection is not an object: " + s);
            }
            long at = in.offset();
            int marker = in.u8();
            String expected = sub.get("vmsd_name").filter(j -> j instanceof Json.Str).map(Json::asString).orElse("?");
            if (marker != WireFormat.SUBSECTION) {
                throw in.errorAt(at, String.format("Subsection %s not found at offset %x", expected, at));
            }
            String name = in.str8();
            in.be32(); // version: the description says how to read it
            out.put(name, structure(sub, depth + 1));
        }
        var b = Json.object();
        out.forEach(b::put);
        return b.build();
    }

    private Json value(Json.Obj field, int depth) throws MigrationException {
        if (++values > MAX_VALUES) {
            throw in.error("vmdescription asks for more than " + MAX_VALUES + " values in one section");
        }
        String type = text(field, "type");
        if (type.equals("struct")) {
            Json s = field.get("struct").orElse(null);
            if (!(s instanceof Json.Obj struct)) {
                throw in.error("struct field's struct is not an object: " + text(field, "name"));
            }
            return structure(struct, depth + 1);
        }
        long size = number(field, "size");
        if (size > StreamReader.MAX_ARRAY) {
            throw in.error("field " + text(field, "name") + " of " + size + " bytes: more than " + StreamReader.MAX_ARRAY);
        }
        byte[] bytes = in.bytes((int) size);
        if (type.equals("bool")) {
            return new Json.Bool(size > 0 && bytes[0] != 0);
        }
        if (size > 0 && (SIGNED.contains(type) || UNSIGNED.contains(type))) {
            java.math.BigInteger unsigned = new java.math.BigInteger(1, bytes);
            String hex = String.format("0x%0" + (size * 2) + "x", unsigned);
            if (SIGNED.contains(type) && bytes[0] < 0) {
                return new Json.Str(hex + " (" + new java.math.BigInteger(bytes) + ")");
            }
            return new Json.Str(hex);
        }
        // a Str, not the HexBytes a RAM page becomes: device state is compared and diffed as values
        return new Json.Str(new Json.HexBytes(java.lang.foreign.MemorySegment.ofArray(bytes)).value());
    }

    private List<Json> arrayOf(Json.Obj o, String name) throws MigrationException {
        Json v = o.get(name).orElse(null);
        if (v == null) {
            return List.of();
        }
        if (!(v instanceof Json.Arr a)) {
            throw in.error("vmdescription " + name + " is not an array");
        }
        return a.elements();
    }

    private String text(Json.Obj o, String name) throws MigrationException {
        if (o.get(name).orElse(null) instanceof Json.Str(String s)) {
            return s;
        }
        throw in.error("vmdescription entry without a string " + name + ": " + o);
    }

    private long number(Json.Obj o, String name) throws MigrationException {
        if (o.get(name).orElse(null) instanceof Json.Num(String t)) {
            try {
                long v = Long.parseLong(t);
                if (v >= 0) {
                    return v;
                }
            } catch (NumberFormatException e) {
                // reported below
            }
        }
        throw in.error("vmdescription entry without a non-negative integer " + name + ": " + o);
    }
}
