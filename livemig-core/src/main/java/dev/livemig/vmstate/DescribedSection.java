package dev.livemig.vmstate;

import dev.livemig.json.Json;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.format.WireFormat;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Reads the state of a device livemig does not model, guided only by its entry in a vmdescription trailer
 * (§5.3), and returns the exact bytes consumed so that they can be re-emitted unchanged.
 *
 * <p>Fields take {@code size} bytes each, times {@code array_len} when present; {@code struct} fields and the
 * inline vmsds of {@code tmp}/{@code vstruct} fields are walked recursively, and each structure element must
 * consume exactly its {@code size}. After the fields, every listed subsection must appear as {@code 0x05},
 * str8 name equal to its {@code vmsd_name}, be32 version equal to its {@code version}, then its body. The
 * description comes from the stream and is untrusted: everything is bounded by {@code maxBytes} and a nesting
 * limit, and every inconsistency is a {@link MigrationException} with the offset.
 */
public final class DescribedSection {
    private static final int MAX_DEPTH = 64;
    private static final int CHUNK = 64 << 10;

    private final StreamReader r;
    private final int maxBytes;
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final long maxVisits;
    private long visits;

    private DescribedSection(StreamReader r, int maxBytes) {
        this.r = r;
        this.maxBytes = maxBytes;
        // a hostile description could repeat a huge empty structure per byte; bound the walk, not just the bytes
        this.maxVisits = 4L * Math.max(maxBytes, 0) + (1 << 20);
    }

    /** Consumes the bytes {@code description} (a device or vmsd object) describes; at most {@code maxBytes}. */
    public static byte[] read(StreamReader r, Json.Obj description, int maxBytes) throws MigrationException {
        var walk = new DescribedSection(r, maxBytes);
        String name = description.get("vmsd_name").or(() -> description.get("name"))
                .filter(j -> j instanceof Json.Str).map(Json::asString).orElse("?");
        walk.vmsd(new Described(r, description, name), 0);
        return walk.out.toByteArray();
    }

    private void vmsd(Described d, int depth) throws MigrationException {
        if (depth > MAX_DEPTH) {
            throw r.error("description nested deeper than " + MAX_DEPTH + ": vmsd=" + d.path());
        }
        for (Json field : d.array("fields")) {
            Described f = d.field(field);
            if (++visits > maxVisits) {
                throw r.error("description too costly to walk: field=" + f.path() + " visits=" + visits);
            }
            long size = f.nonNegative("size");
            long count = f.json().has("array_len") ? f.nonNegative("array_len") : 1;
            String type = f.string("type");
            if (type.equals("struct")) {
                structures(f.child("struct", f.path()), count, size, depth);
            } else if ((type.equals("tmp") || type.equals("vstruct")) && f.json().has("fields")) {
                structures(f, count, size, depth);
            } else {
                if (size > 0 && count > (maxBytes - out.size()) / size) {
                    throw r.error("field larger than the section limit: field=" + f.path() + " size=" + size
                            + " array_len=" + count + " max=" + maxBytes);
                }
                copy(size * count, f.path());
            }
        }
        for (Json subsection : d.optionalArray("subsections")) {
            subsection(d.subsection(subsection), depth);
        }
    }

    private void structures(Described element, long count, long size, int depth) throws MigrationException {
        for (long i = 0; i < count; i++) {
            int start = out.size();
            vmsd(element, depth + 1);
            int consumed = out.size() - start;
            if (consumed != size) {
                throw r.error("structure size differs from its description: field=" + element.path()
                        + " size=" + size + " read=" + consumed);
            }
            if (size == 0) {
                return; // every further element reads the same nothing
            }
        }
    }

    private void subsection(Described sub, int depth) throws MigrationException {
        String name = sub.string("vmsd_name");
        long version = sub.number("version");
        long at = r.offset();
        int marker = r.u8();
        if (marker != WireFormat.SUBSECTION) {
            throw r.errorAt(at, "expected subsection: vmsd=" + name + " byte=0x" + Integer.toHexString(marker));
        }
        String found = r.str8();
        if (!found.equals(name)) {
            throw r.errorAt(at, "wrong subsection: expected=" + name + " found=" + found);
        }
        long foundVersion = r.be32u();
        if (foundVersion != version) {
            throw r.errorAt(at, "subsection version differs from its description: vmsd=" + name
                    + " described=" + version + " found=" + foundVersion);
        }
        account(r.offset() - at, name);
        out.write(WireFormat.SUBSECTION);
        out.write(found.length());
        out.writeBytes(found.getBytes(StandardCharsets.ISO_8859_1));
        out.writeBytes(new byte[] {(byte) (version >>> 24), (byte) (version >>> 16), (byte) (version >>> 8), (byte) version});
        vmsd(sub, depth + 1);
    }

    private void copy(long n, String path) throws MigrationException {
        account(n, path);
        while (n > 0) {
            int k = (int) Math.min(n, CHUNK);
            out.writeBytes(r.bytes(k));
            n -= k;
        }
    }

    private void account(long n, String path) throws MigrationException {
        if (n > maxBytes - out.size()) {
            throw r.error("section larger than its limit: field=" + path + " max=" + maxBytes);
        }
    }

    /** A piece of the description with its path, whose accessors fail as stream errors. */
    private record Described(StreamReader r, Json.Obj json, String path) {
        Described field(Json j) throws MigrationException {
            Described f = new Described(r, object(j, "field"), path);
            return new Described(r, f.json, path + "." + f.string("name"));
        }

        Described child(String key, String childPath) throws MigrationException {
            return new Described(r, object(json.get(key).orElseThrow(() -> missing(key)), key), childPath);
        }

        Described subsection(Json j) throws MigrationException {
            Described s = new Described(r, object(j, "subsection"), path);
            return new Described(r, s.json, s.string("vmsd_name"));
        }

        List<Json> array(String key) throws MigrationException {
            if (json.get(key).orElseThrow(() -> missing(key)) instanceof Json.Arr(List<Json> elements)) {
                return elements;
            }
            throw malformed(key + " is not an array");
        }

        List<Json> optionalArray(String key) throws MigrationException {
            return json.has(key) ? array(key) : List.of();
        }

        String string(String key) throws MigrationException {
            if (json.get(key).orElseThrow(() -> missing(key)) instanceof Json.Str(String s)) {
                return s;
            }
            throw malformed(key + " is not a string");
        }

        long number(String key) throws MigrationException {
            Json v = json.get(key).orElseThrow(() -> missing(key));
            try {
                return v.asLong();
            } catch (IllegalArgumentException e) {
                throw malformed(key + " is not an integer");
            }
        }

        long nonNegative(String key) throws MigrationException {
            long v = number(key);
            if (v < 0) {
                throw malformed(key + " is negative: " + key + "=" + v);
            }
            return v;
        }

        private Json.Obj object(Json j, String what) throws MigrationException {
            if (j instanceof Json.Obj o) {
                return o;
            }
            throw malformed(what + " is not an object");
        }

        private MigrationException missing(String key) {
            return malformed("missing key=" + key);
        }

        private MigrationException malformed(String what) {
            return r.error("malformed description: " + what + ": vmsd=" + path);
        }
    }
}
