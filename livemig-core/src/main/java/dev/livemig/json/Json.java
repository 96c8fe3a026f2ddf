package dev.livemig.json;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;

/**
 * A JSON value as QEMU writes it: objects keep their members in order and may repeat a key (QEMU's
 * vmdescription does for list-typed fields), numbers keep their text. Immutable.
 */
public sealed interface Json {

    /** One member of an {@link Obj}: a name and its value, in the order the object has them. */
    record Member(String name, Json value) {
    }

    /**
     * A JSON object: its members in order, a name possibly more than once (a copy of the list; null members are
     * refused). The lookups find a name's first member.
     */
    record Obj(List<Member> members) implements Json {
        public Obj {
            members = List.copyOf(members);
        }

        /** The first member with this name. */
        public Optional<Json> get(String name) {
            for (Member m : members) {
                if (m.name().equals(name)) {
                    return Optional.of(m.value());
                }
            }
            return Optional.empty();
        }

        /** Whether a member has this name. */
        public boolean has(String name) {
            return get(name).isPresent();
        }

        /**
         * The string value of the first member with this name.
         *
         * @throws IllegalArgumentException if there is none, or its value is not a string
         */
        public String string(String name) {
            return get(name).map(Json::asString).orElseThrow(() -> new IllegalArgumentException("missing key: " + name));
        }

        /**
         * The integer value of the first member with this name.
         *
         * @throws IllegalArgumentException if there is none, or its value is not a number that fits a long
         */
        public long number(String name) {
            return get(name).map(Json::asLong).orElseThrow(() -> new IllegalArgumentException("missing key: " + name));
        }

        /**
         * The elements of the first member with this name; an empty list if there is no such member.
         *
         * @throws IllegalArgumentException if its value is not an array
         */
        public List<Json> array(String name) {
            return get(name).map(Json::asArray).orElse(List.of());
        }
    }

    /** A JSON array: an unmodifiable copy of its elements. */
    record Arr(List<Json> elements) implements Json {
        public Arr {
            elements = Collections.unmodifiableList(new ArrayList<>(elements));
        }
    }

    /** A JSON string: its text itself, not the escaped form JSON writes. */
    record Str(String value) implements Json {
    }

    /**
     * A string holding {@code bytes} as lowercase hex pairs separated by spaces ("0a ff 00"), as
     * analyze-migration.py shows RAM and buffers. Kept as bytes and written as text only when the JSON is: a
     * memory dump of a large stream would not fit the heap as Strings. The bytes must not change afterwards.
     */
    record HexBytes(java.lang.foreign.MemorySegment bytes) implements Json {
        private static final char[] DIGITS = "0123456789abcdef".toCharArray();

        /** The text of bytes {@code from} (inclusive) to {@code to}, each but the last followed by a space, into {@code out}. */
        public int text(long from, long to, char[] out) {
            int t = 0;
            for (long i = from; i < to; i++) {
                int b = bytes.get(java.lang.foreign.ValueLayout.JAVA_BYTE, i);
                out[t++] = DIGITS[(b >> 4) & 0xf];
                out[t++] = DIGITS[b & 0xf];
                if (i + 1 < bytes.byteSize()) {
                    out[t++] = ' ';
                }
            }
            return t;
        }

        /** The whole text, as {@link Str#value()} would hold it: a String of three characters per byte. */
        public String value() {
            char[] text = new char[(int) Math.max(0, bytes.byteSize() * 3 - 1)];
            text(0, bytes.byteSize(), text);
            return new String(text);
        }
    }

    /** A number as written; {@link #asLong()} parses it when it is an integer. */
    record Num(String text) implements Json {
    }

    /** {@code true} or {@code false}. */
    record Bool(boolean value) implements Json {
    }

    /** {@code null}. */
    record Null() implements Json {
    }

    /** A JSON string of {@code s}. */
    static Json of(String s) {
        return new Str(s);
    }

    /** A JSON number of {@code n}, written in decimal. */
    static Json of(long n) {
        return new Num(Long.toString(n));
    }

    /** {@code true} or {@code false}. */
    static Json of(boolean b) {
        return new Bool(b);
    }

    /**
     * The text of a string ({@link Str}, or {@link HexBytes} as its hex text).
     *
     * @throws IllegalArgumentException if this is no string
     */
    default String asString() {
        if (this instanceof Str(String v)) {
            return v;
        }
        if (this instanceof HexBytes h) {
            return h.value();
        }
        throw new IllegalArgumentException("not a JSON string: " + this);
    }

    /**
     * The value of an integer number.
     *
     * @throws IllegalArgumentException if this is no number, or one that is not an integer or does not fit a long
     */
    default long asLong() {
        if (this instanceof Num(String t)) {
            try {
                return Long.parseLong(t);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("not an integer: " + t);
            }
        }
        throw new IllegalArgumentException("not a JSON number: " + this);
    }

    /**
     * The elements of an array.
     *
     * @throws IllegalArgumentException if this is no array
     */
    default List<Json> asArray() {
        if (this instanceof Arr(List<Json> e)) {
            return e;
        }
        throw new IllegalArgumentException("not a JSON array: " + this);
    }

    /**
     * This object.
     *
     * @throws IllegalArgumentException if this is no object
     */
    default Obj asObject() {
        if (this instanceof Obj o) {
            return o;
        }
        throw new IllegalArgumentException("not a JSON object: " + this);
    }

    /** An object builder that keeps insertion order and allows repeated keys. */
    static ObjBuilder object() {
        return new ObjBuilder();
    }

    /** Builds an {@link Obj} member by member, in the order of the calls; not thread-safe. */
    final class ObjBuilder {
        private final List<Member> members = new ArrayList<>();

        /** Through {@link Json#object()}. */
        private ObjBuilder() {
        }

        /** Appends a member, even if one with this name is there already; returns this builder. */
        public ObjBuilder put(String name, Json value) {
            members.add(new Member(name, value));
            return this;
        }

        /** Appends a string member; returns this builder. */
        public ObjBuilder put(String name, String value) {
            return put(name, new Str(value));
        }

        /** Appends a number member; returns this builder. */
        public ObjBuilder put(String name, long value) {
            return put(name, Json.of(value));
        }

        /** Appends a boolean member; returns this builder. */
        public ObjBuilder put(String name, boolean value) {
            return put(name, new Bool(value));
        }

        /** An object of the members appended so far (a copy: members appended afterwards are not in it). */
        public Obj build() {
            return new Obj(members);
        }
    }
}
