package dev.livemig.host;

import dev.livemig.json.Json;

/**
 * One line of {@code livemig check}: what the host offers for one thing livemig depends on, and what livemig
 * does with it. {@code facts} holds the same in machine-readable form (feature bits, a measured figure);
 * {@code essential} marks what livemig cannot run without.
 */
public record HostCheck(String name, Status status, String detail, boolean essential, Json.Obj facts) {

    /** ok: used as designed; degraded: a fallback is used (the detail says which); missing: not available. */
    public enum Status {
        OK, DEGRADED, MISSING;

        /** The word printed and put in the JSON. */
        public String word() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    public HostCheck {
        if (name.isEmpty() || detail.isEmpty()) {
            throw new IllegalArgumentException("a check needs a name and a detail");
        }
    }

    static HostCheck ok(String name, String detail, Json.Obj facts) {
        return new HostCheck(name, Status.OK, detail, false, facts);
    }

    static HostCheck degraded(String name, String detail, Json.Obj facts) {
        return new HostCheck(name, Status.DEGRADED, detail, false, facts);
    }

    static HostCheck missing(String name, String detail, Json.Obj facts) {
        return new HostCheck(name, Status.MISSING, detail, false, facts);
    }

    /** This check, marked as one livemig cannot run without. */
    HostCheck asEssential() {
        return new HostCheck(name, status, detail, true, facts);
    }

    /** True unless livemig cannot run at all because of this check. */
    public boolean permitsRunning() {
        return !(essential && status == Status.MISSING);
    }

    public Json.Obj toJson() {
        return Json.object().put("name", name).put("status", status.word()).put("essential", essential)
                .put("detail", detail).put("facts", facts).build();
    }
}
