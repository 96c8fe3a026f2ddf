package dev.livemig.vmstate;

import dev.livemig.wire.MigrationException;

import java.util.List;

/**
 * How many elements of a field travel (§4.3 rule 2), checked before any byte is read or written: variable
 * counts and lengths lie in {@code [0, max]}, and the object's arrays are large enough to hold them. So a
 * length from the stream never sizes an allocation beyond the declared maximum, and never overruns an array.
 */
final class ElementCount {
    private ElementCount() {
    }

    /** Makes the error for a bad count: saving and loading report at different offsets. */
    @FunctionalInterface
    interface Failure {
        MigrationException of(String message, String field);
    }

    static boolean isArray(VmStateField<?> f) {
        return f instanceof VmStateField.IntArray<?> || f instanceof VmStateField.StructArray<?, ?>;
    }

    /**
     * The element count of {@code f} in {@code object}; {@code saving} also checks the variable buffer to write
     * (a loaded one is allocated fresh).
     */
    static <T> int of(VmStateField<T> f, T object, boolean saving, Failure fail, String path) throws MigrationException {
        String field = path + "." + f.name();
        return switch (f) {
            case VmStateField.Scalar<T> s -> 1;
            case VmStateField.Unused<T> u -> 1;
            case VmStateField.Buffer<T> b -> {
                capacity(b.bytes().apply(object), b.size(), fail, field);
                yield 1;
            }
            case VmStateField.VBuffer<T> b -> {
                int length = bounded(b.length().applyAsLong(object), b.max(), "buffer length", fail, field);
                if (saving) {
                    capacity(b.get().apply(object), length, fail, field);
                }
                yield 1;
            }
            case VmStateField.IntArray<T> a -> {
                int n = bounded(a.count().applyAsLong(object), a.max(), "array length", fail, field);
                long[] values = a.values().apply(object);
                if (values == null || values.length < n) {
                    throw fail.of("array too short for its length: length=" + n
                            + " capacity=" + (values == null ? 0 : values.length), field);
                }
                yield n;
            }
            case VmStateField.Struct<T, ?> s -> 1;
            case VmStateField.StructArray<T, ?> s -> {
                int n = bounded(s.count().applyAsLong(object), s.max(), "array length", fail, field);
                List<?> elements = s.elements().apply(object);
                if (elements == null || elements.size() < n) {
                    throw fail.of("struct array too short for its length: length=" + n
                            + " capacity=" + (elements == null ? 0 : elements.size()), field);
                }
                yield n;
            }
        };
    }

    private static int bounded(long value, int max, String what, Failure fail, String field) throws MigrationException {
        if (value < 0 || value > max) {
            throw fail.of(what + " out of range: length=" + value + " max=" + max, field);
        }
        return (int) value;
    }

    private static void capacity(byte[] bytes, int size, Failure fail, String field) throws MigrationException {
        if (bytes == null || bytes.length < size) {
            throw fail.of("buffer too short: size=" + size + " capacity=" + (bytes == null ? 0 : bytes.length), field);
        }
    }
}
