package dev.livemig.vmstate;

import java.util.List;
import java.util.function.BiConsumer;
import java.util.function.Function;
import java.util.function.ObjLongConsumer;
import java.util.function.ToLongFunction;

/**
 * One declared field of a {@link VmStateDescription}: what it holds, how to reach it in the object, and when it
 * is on the wire ({@link Presence}). Arrays and buffers are read in place into the object's own arrays, except
 * variable buffers, whose array is allocated after the length has been checked against the declared maximum.
 * Variable counts and lengths are read from the object (an earlier field, already loaded) and never exceed
 * the declared {@code max}.
 */
public sealed interface VmStateField<T> {
    /** The field's name, as QEMU's vmsd and the JSON trailer give it (a name may repeat within a description). */
    String name();

    /** When the field is on the wire. */
    Presence<T> presence();

    /** This field with another presence; the field itself does not change. */
    VmStateField<T> with(Presence<T> presence);

    /** The JSON {@code type}: the info type name, {@code buffer}, {@code unused_buffer} or {@code struct}. */
    String jsonType();

    /** Whether one JSON object with {@code array_len} may describe all elements (§5.3). */
    default boolean compressible() {
        return !presence().hasTest();
    }

    /** An integer or bool; {@code set} receives the loaded value after its {@link VmStateType.Check}. */
    record Scalar<T>(String name, Presence<T> presence, VmStateType type, ToLongFunction<T> get, ObjLongConsumer<T> set)
            implements VmStateField<T> {
        /** {@inheritDoc} */
        public Scalar<T> with(Presence<T> p) {
            return new Scalar<>(name, p, type, get, set);
        }

        /** {@inheritDoc} */
        public String jsonType() {
            return type.jsonName();
        }
    }

    /** {@code count(obj)} integers (at most {@code max}) stored in place in {@code values(obj)}. */
    record IntArray<T>(String name, Presence<T> presence, VmStateType type, ToLongFunction<T> count, int max,
                       Function<T, long[]> values) implements VmStateField<T> {
        public IntArray {
            checkSize(name, "max", max);
        }

        /** {@inheritDoc} */
        public IntArray<T> with(Presence<T> p) {
            return new IntArray<>(name, p, type, count, max, values);
        }

        /** {@inheritDoc} */
        public String jsonType() {
            return type.jsonName();
        }
    }

    /** {@code size} raw bytes, stored in place in {@code bytes(obj)}. */
    record Buffer<T>(String name, Presence<T> presence, int size, Function<T, byte[]> bytes) implements VmStateField<T> {
        public Buffer {
            checkSize(name, "size", size);
        }

        /** {@inheritDoc} */
        public Buffer<T> with(Presence<T> p) {
            return new Buffer<>(name, p, size, bytes);
        }

        /** {@inheritDoc} */
        public String jsonType() {
            return "buffer";
        }
    }

    /** {@code length(obj)} raw bytes (at most {@code max}); loading hands a new array to {@code set}. */
    record VBuffer<T>(String name, Presence<T> presence, ToLongFunction<T> length, int max, Function<T, byte[]> get,
                      BiConsumer<T, byte[]> set) implements VmStateField<T> {
        public VBuffer {
            checkSize(name, "max", max);
        }

        /** {@inheritDoc} */
        public VBuffer<T> with(Presence<T> p) {
            return new VBuffer<>(name, p, length, max, get, set);
        }

        /** {@inheritDoc} */
        public String jsonType() {
            return "buffer";
        }
    }

    /** {@code size} bytes that are written as zeros and discarded on load. */
    record Unused<T>(String name, Presence<T> presence, int size) implements VmStateField<T> {
        public Unused {
            checkSize(name, "size", size);
        }

        /** {@inheritDoc} */
        public Unused<T> with(Presence<T> p) {
            return new Unused<>(name, p, size);
        }

        /** {@inheritDoc} */
        public String jsonType() {
            return "unused_buffer";
        }
    }

    /** A nested structure, processed at its description's own version (§4.3 rule 5). */
    record Struct<T, S>(String name, Presence<T> presence, VmStateDescription<S> description, Function<T, S> element)
            implements VmStateField<T> {
        /** {@inheritDoc} */
        public Struct<T, S> with(Presence<T> p) {
            return new Struct<>(name, p, description, element);
        }

        /** {@inheritDoc} */
        public String jsonType() {
            return "struct";
        }

        @Override
        public boolean compressible() {
            return !presence.hasTest() && description.compressible();
        }
    }

    /** {@code count(obj)} nested structures (at most {@code max}), loaded in place into {@code elements(obj)}. */
    record StructArray<T, S>(String name, Presence<T> presence, VmStateDescription<S> description,
                             ToLongFunction<T> count, int max, Function<T, ? extends List<S>> elements)
            implements VmStateField<T> {
        public StructArray {
            checkSize(name, "max", max);
        }

        /** {@inheritDoc} */
        public StructArray<T, S> with(Presence<T> p) {
            return new StructArray<>(name, p, description, count, max, elements);
        }

        /** {@inheritDoc} */
        public String jsonType() {
            return "struct";
        }

        @Override
        public boolean compressible() {
            return !presence.hasTest() && description.compressible();
        }
    }

    /** Declared sizes are fixed by the code that declares them; a negative one is a programming error. */
    private static void checkSize(String field, String what, int value) {
        if (value < 0) {
            throw new IllegalArgumentException("field " + field + ": negative " + what + " " + value);
        }
    }
}
