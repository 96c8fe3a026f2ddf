package dev.livemig.qmp;

import dev.livemig.json.Json;

import java.util.List;

/**
 * One QMP command: its name, the arguments it accepts, and what it does. Arguments are checked here,
 * before the handler runs, with the texts of QEMU's QObject input visitor (unexpected, missing, wrong
 * type), so every handler may read its declared arguments without checking them again.
 */
public record QmpCommand(String name, List<Param> params, boolean takesMore, Handler handler) {

    public QmpCommand {
        params = List.copyOf(params);
    }

    /** A command that accepts exactly {@code params}. */
    public QmpCommand(String name, List<Param> params, Handler handler) {
        this(name, params, false, handler);
    }

    /**
     * A command that accepts {@code params} and any other member too, which its handler judges (object-add, whose
     * members are the properties of the object's type).
     */
    public static QmpCommand takingMore(String name, List<Param> params, Handler handler) {
        return new QmpCommand(name, params, true, handler);
    }

    /** What a command does with its checked arguments; returns the value of {@code "return"}. */
    @FunctionalInterface
    public interface Handler {
        /**
         * Runs the command, on the thread that dispatches the message (a QmpServer client's), with arguments
         * already checked against the params; a QmpException becomes the error reply, and so, as an internal
         * error, does a RuntimeException.
         */
        Json handle(Json.Obj arguments) throws QmpException;
    }

    /** A JSON type as QAPI names it in "expected: ..." errors. */
    public enum Type {
        STRING("string"), BOOL("boolean"), INT("integer"), ARRAY("array"), OBJECT("object"),
        /** Checked by the handler itself (e.g. migrate-set-parameters, whose members differ in type). */
        ANY("any");

        private final String qapiName;

        Type(String qapiName) {
            this.qapiName = qapiName;
        }

        /** QEMU's name for the type in "expected: ..." texts. */
        public String qapiName() {
            return qapiName;
        }

        /** Whether {@code value} has this type; INT takes any integer, however long; ANY takes everything. */
        public boolean accepts(Json value) {
            return switch (this) {
                case STRING -> value instanceof Json.Str;
                case BOOL -> value instanceof Json.Bool;
                case INT -> value instanceof Json.Num(String text) && isInteger(text);
                case ARRAY -> value instanceof Json.Arr;
                case OBJECT -> value instanceof Json.Obj;
                case ANY -> true;
            };
        }

        private static boolean isInteger(String text) {
            try {
                new java.math.BigInteger(text);
                return true;
            } catch (NumberFormatException e) {
                return false;
            }
        }
    }

    /** One argument a command accepts: its name, its JSON type, and whether it must be given. */
    public record Param(String name, Type type, boolean required) {
        /** An argument that must be given. */
        public static Param required(String name, Type type) {
            return new Param(name, type, true);
        }

        /** An argument that may be left out. */
        public static Param optional(String name, Type type) {
            return new Param(name, type, false);
        }
    }

    /** A command without arguments. */
    public static QmpCommand of(String name, Handler handler) {
        return new QmpCommand(name, List.of(), handler);
    }

    /** Checks {@code arguments} against {@link #params} with QEMU's texts, in QEMU's order. */
    public void checkArguments(Json.Obj arguments) throws QmpException {
        for (Json.Member m : arguments.members()) { // no key repeats: the dispatcher refused those
            Param p = param(m.name());
            if (p == null && takesMore) {
                continue;
            }
            if (p == null) {
                throw QmpException.generic("Parameter '" + m.name() + "' is unexpected");
            }
            if (!p.type().accepts(m.value())) {
                throw QmpException.generic("Invalid parameter type for '" + m.name() + "', expected: " + p.type().qapiName);
            }
        }
        for (Param p : params) {
            if (p.required() && arguments.get(p.name()).isEmpty()) {
                throw QmpException.generic("Parameter '" + p.name() + "' is missing");
            }
        }
    }

    private Param param(String name) {
        for (Param p : params) {
            if (p.name().equals(name)) {
                return p;
            }
        }
        return null;
    }
}
