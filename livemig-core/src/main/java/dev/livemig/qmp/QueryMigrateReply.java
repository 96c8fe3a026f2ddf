package dev.livemig.qmp;

import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;
import dev.livemig.migration.MigrationInfo;
import dev.livemig.migration.MigrationStatus;

import java.io.IOException;

/**
 * Reads the return value of {@code query-migrate}, from QEMU or from livemig, back into a {@link MigrationInfo}:
 * the inverse of {@link MigrationInfo#toJson()}. A member QEMU leaves out reads as "not reported" (-1 for a
 * time, null for {@code ram} and {@code error-desc}, 0 for a counter of {@code ram} that an older QEMU lacks);
 * members livemig does not model (xbzrle-cache, blocked-reasons, ...) are skipped. A member of the wrong JSON
 * type, or a status QEMU does not have, is refused with an IOException naming the member, because the peer
 * then is not speaking QMP as QEMU 7.2 does.
 */
public final class QueryMigrateReply {
    private QueryMigrateReply() {
    }

    /**
     * The migration info of a query-migrate return value ({@code {}} before any migration reads as status none).
     *
     * @throws IOException if a member has the wrong JSON type or the status is not one of QEMU's
     */
    public static MigrationInfo parse(Json.Obj reply) throws IOException {
        MigrationStatus status = status(reply);
        Json ram = optional(reply, "ram");
        if (ram != null && !(ram instanceof Json.Obj)) {
            throw wrongType(reply, "ram", "an object");
        }
        return new MigrationInfo(status,
                integer(reply, "", "total-time", -1),
                integer(reply, "", "setup-time", -1),
                integer(reply, "", "downtime", -1),
                integer(reply, "", "expected-downtime", -1),
                ram == null ? null : ramStats((Json.Obj) ram),
                optional(reply, "error-desc") == null ? null : string(reply, "error-desc"),
                (int) integer(reply, "", "cpu-throttle-percentage", 0),
                compression(reply),
                xbzrle(reply),
                blocktime(reply));
    }

    private static MigrationInfo.PostcopyBlocktime blocktime(Json.Obj reply) throws IOException {
        if (optional(reply, "postcopy-blocktime") == null) {
            return null;
        }
        var each = new java.util.ArrayList<Long>();
        if (optional(reply, "postcopy-vcpu-blocktime") != null) {
            if (!(optional(reply, "postcopy-vcpu-blocktime") instanceof Json.Arr(var elements))) {
                throw wrongType(reply, "postcopy-vcpu-blocktime", "an array");
            }
            for (Json e : elements) {
                if (!(e instanceof Json.Num(String text)) || !text.matches("[0-9]{1,10}")) {
                    throw wrongType(reply, "postcopy-vcpu-blocktime", "an array of integers");
                }
                each.add(Long.parseLong(text));
            }
        }
        return new MigrationInfo.PostcopyBlocktime(integer(reply, "", "postcopy-blocktime", 0), each);
    }

    private static MigrationInfo.CompressionStats compression(Json.Obj reply) throws IOException {
        Json c = optional(reply, "compression");
        if (c == null) {
            return null;
        }
        if (!(c instanceof Json.Obj stats)) {
            throw wrongType(reply, "compression", "an object");
        }
        return new MigrationInfo.CompressionStats(integer(stats, "compression.", "pages", 0),
                integer(stats, "compression.", "busy", 0), integer(stats, "compression.", "compressed-size", 0));
    }

    private static MigrationInfo.XbzrleStats xbzrle(Json.Obj reply) throws IOException {
        Json c = optional(reply, "xbzrle-cache");
        if (c == null) {
            return null;
        }
        if (!(c instanceof Json.Obj stats)) {
            throw wrongType(reply, "xbzrle-cache", "an object");
        }
        String at = "xbzrle-cache.";
        return new MigrationInfo.XbzrleStats(integer(stats, at, "cache-size", 0), integer(stats, at, "bytes", 0),
                integer(stats, at, "pages", 0), integer(stats, at, "cache-miss", 0), integer(stats, at, "overflow", 0));
    }

    private static MigrationStatus status(Json.Obj reply) throws IOException {
        if (optional(reply, "status") == null) {
            return MigrationStatus.NONE; // QEMU's reply before any migration is {}
        }
        String name = string(reply, "status");
        for (MigrationStatus s : MigrationStatus.values()) {
            if (s.qemuName().equals(name)) {
                return s;
            }
        }
        throw new IOException("query-migrate reply has an unknown status '" + name + "'");
    }

    private static MigrationInfo.RamStats ramStats(Json.Obj ram) throws IOException {
        return new MigrationInfo.RamStats(
                integer(ram, "ram.", "transferred", 0),
                integer(ram, "ram.", "remaining", 0),
                integer(ram, "ram.", "total", 0),
                integer(ram, "ram.", "duplicate", 0),
                integer(ram, "ram.", "normal", 0),
                integer(ram, "ram.", "normal-bytes", 0),
                integer(ram, "ram.", "dirty-pages-rate", 0),
                number(ram, "ram.", "mbps"),
                integer(ram, "ram.", "dirty-sync-count", 0),
                integer(ram, "ram.", "precopy-bytes", 0),
                integer(ram, "ram.", "downtime-bytes", 0),
                integer(ram, "ram.", "pages-per-second", 0),
                integer(ram, "ram.", "multifd-bytes", 0),
                integer(ram, "ram.", "dirty-sync-missed-zero-copy", 0),
                integer(ram, "ram.", "postcopy-requests", 0),
                integer(ram, "ram.", "postcopy-bytes", 0));
    }

    private static Json optional(Json.Obj o, String name) {
        return o.get(name).orElse(null);
    }

    private static String string(Json.Obj o, String name) throws IOException {
        if (optional(o, name) instanceof Json.Str(String s)) {
            return s;
        }
        throw wrongType(o, name, "a string");
    }

    /** An integer member; {@code prefix} names the enclosing member in the error ("ram."). */
    private static long integer(Json.Obj o, String prefix, String name, long absent) throws IOException {
        Json v = optional(o, name);
        if (v == null) {
            return absent;
        }
        if (v instanceof Json.Num(String text)) {
            try {
                return Long.parseLong(text);
            } catch (NumberFormatException e) {
                // a fraction, or beyond 64 bits: not what QEMU's int/uint64 members carry
            }
        }
        throw wrongType(o, prefix + name, "an integer");
    }

    private static double number(Json.Obj o, String prefix, String name) throws IOException {
        Json v = optional(o, name);
        if (v == null) {
            return 0;
        }
        if (v instanceof Json.Num(String text)) {
            return Double.parseDouble(text); // the parser only makes a Num of valid JSON number text
        }
        throw wrongType(o, prefix + name, "a number");
    }

    private static IOException wrongType(Json.Obj o, String path, String expected) {
        String name = path.substring(path.lastIndexOf('.') + 1);
        return new IOException("query-migrate reply member " + path + " should be " + expected + ", not "
                + JsonWriter.compact(o.get(name).orElseThrow()));
    }
}
