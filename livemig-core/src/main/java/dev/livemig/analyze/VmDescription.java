package dev.livemig.analyze;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParseException;
import dev.livemig.json.JsonParser;
import dev.livemig.wire.MigrationException;

/**
 * The vmdescription trailer's JSON, checked before analyze relies on it: strict RFC 8259 read from its
 * bytes (so a syntax error names the exact stream offset), an object whose {@code devices} is an array of
 * objects that each have a string {@code name} and a non-negative integer {@code instance_id}, the shape
 * QEMU writes and every reader here looks sections up by.
 */
final class VmDescription {
    private VmDescription() {
    }

    /** {@code json}: the trailer's bytes; {@code at}: the stream offset of its first byte. */
    static Json.Obj parse(byte[] json, long at) throws MigrationException {
        Json value;
        try {
            value = JsonParser.parse(json, JsonParser.Syntax.STRICT);
        } catch (JsonParseException e) {
            throw new MigrationException("the vmdescription is not JSON: " + e.desc(), "vmdescription", at + e.offset(), e);
        }
        if (!(value instanceof Json.Obj root)) {
            throw new MigrationException("the vmdescription is not a JSON object", "vmdescription", at, null);
        }
        if (!(root.get("devices").orElse(null) instanceof Json.Arr devices)) {
            throw new MigrationException("the vmdescription has no devices array", "vmdescription", at, null);
        }
        int i = 0;
        for (Json d : devices.elements()) {
            if (!(d instanceof Json.Obj o) || !(o.get("name").orElse(null) instanceof Json.Str)
                    || !(o.get("instance_id").orElse(null) instanceof Json.Num(String id)) || !nonNegativeInt(id)) {
                throw new MigrationException("vmdescription device " + i + " is not an object with a string name and an "
                        + "instance_id from 0 to 2^32-1", "vmdescription", at, null);
            }
            i++;
        }
        return root;
    }

    private static boolean nonNegativeInt(String text) {
        try {
            long v = Long.parseLong(text);
            return v >= 0 && v <= 0xffff_ffffL;
        } catch (NumberFormatException e) {
            return false;
        }
    }
}
