package dev.livemig.vmstate;

import java.util.ArrayList;
import java.util.List;
import java.util.function.BiConsumer;
import java.util.function.Function;
import java.util.function.ObjLongConsumer;
import java.util.function.Predicate;
import java.util.function.ToLongFunction;

/**
 * Fluent builder of a {@link VmStateDescription}. Fields are added in wire order; {@link #since(int)} and
 * {@link #onlyIf(FieldExists)} qualify the field added last. Defaults: version 0, minimum version 0, no hooks,
 * always needed. Not thread-safe; build once, share the result.
 */
public final class VmStateBuilder<T> {
    private final String name;
    private int versionId;
    private int minimumVersionId;
    private final List<VmStateField<T>> fields = new ArrayList<>();
    private final List<Subsection<T>> subsections = new ArrayList<>();
    private VmStateHook<T> preSave = o -> { };
    private VmStateHook<T> preLoad = o -> { };
    private PostLoadHook<T> postLoad = (o, v) -> { };
    private Predicate<T> needed = o -> true;

    VmStateBuilder(String name) {
        this.name = name;
    }

    /** The version saves write and the newest loads accept (QEMU's version_id; default 0). */
    public VmStateBuilder<T> version(int version) {
        this.versionId = version;
        return this;
    }

    /**
     * The oldest version loads accept (QEMU's minimum_version_id; default 0); {@link #build} refuses one above the
     * version.
     */
    public VmStateBuilder<T> minimumVersion(int version) {
        this.minimumVersionId = version;
        return this;
    }

    /** Adds a field of any kind. */
    public VmStateBuilder<T> field(VmStateField<T> field) {
        fields.add(field);
        return this;
    }

    /** The last field exists only from this version on (its {@code version_id}). */
    public VmStateBuilder<T> since(int version) {
        return requalify(fields.getLast().presence().since(version));
    }

    /** The last field exists iff this test says so; its version is then ignored (§4.3). */
    public VmStateBuilder<T> onlyIf(FieldExists<T> exists) {
        return requalify(fields.getLast().presence().onlyIf(exists));
    }

    private VmStateBuilder<T> requalify(Presence<T> presence) {
        fields.add(fields.removeLast().with(presence));
        return this;
    }

    /** A field of any integer type, including the {@code equal} and {@code le} checked ones and {@code timer}. */
    public VmStateBuilder<T> scalar(VmStateType type, String field, ToLongFunction<T> get, ObjLongConsumer<T> set) {
        return field(new VmStateField.Scalar<>(field, Presence.always(), type, get, set));
    }

    /**
     * An {@code int8}: the low 8 bits of {@code get}'s value on the wire; {@code set} receives the loaded value
     * sign-extended.
     */
    public VmStateBuilder<T> int8(String field, ToLongFunction<T> get, ObjLongConsumer<T> set) {
        return scalar(VmStateType.INT8, field, get, set);
    }

    /** An {@code int16}, big-endian: the low 16 bits on the wire, sign-extended on load. */
    public VmStateBuilder<T> int16(String field, ToLongFunction<T> get, ObjLongConsumer<T> set) {
        return scalar(VmStateType.INT16, field, get, set);
    }

    /** An {@code int32}, big-endian: the low 32 bits on the wire, sign-extended on load. */
    public VmStateBuilder<T> int32(String field, ToLongFunction<T> get, ObjLongConsumer<T> set) {
        return scalar(VmStateType.INT32, field, get, set);
    }

    /** An {@code int64}, big-endian. */
    public VmStateBuilder<T> int64(String field, ToLongFunction<T> get, ObjLongConsumer<T> set) {
        return scalar(VmStateType.INT64, field, get, set);
    }

    /** A {@code uint8}: the low 8 bits on the wire, zero-extended on load. */
    public VmStateBuilder<T> uint8(String field, ToLongFunction<T> get, ObjLongConsumer<T> set) {
        return scalar(VmStateType.UINT8, field, get, set);
    }

    /** A {@code uint16}, big-endian: the low 16 bits on the wire, zero-extended on load. */
    public VmStateBuilder<T> uint16(String field, ToLongFunction<T> get, ObjLongConsumer<T> set) {
        return scalar(VmStateType.UINT16, field, get, set);
    }

    /** A {@code uint32}, big-endian: the low 32 bits on the wire, zero-extended on load. */
    public VmStateBuilder<T> uint32(String field, ToLongFunction<T> get, ObjLongConsumer<T> set) {
        return scalar(VmStateType.UINT32, field, get, set);
    }

    /** A {@code uint64}, big-endian: all 64 bits of the long, which Java reads as signed. */
    public VmStateBuilder<T> uint64(String field, ToLongFunction<T> get, ObjLongConsumer<T> set) {
        return scalar(VmStateType.UINT64, field, get, set);
    }

    /** A {@code bool}: one byte, 1 for true; any byte but 0 loads as true. */
    public VmStateBuilder<T> bool(String field, Predicate<T> get, BiConsumer<T, Boolean> set) {
        return scalar(VmStateType.BOOL, field, o -> get.test(o) ? 1 : 0, (o, v) -> set.accept(o, v != 0));
    }

    /** A {@code timer}: the expiry in ns of the timer's clock, -1 when it is not armed, as a big-endian int64. */
    public VmStateBuilder<T> timer(String field, ToLongFunction<T> get, ObjLongConsumer<T> set) {
        return scalar(VmStateType.TIMER, field, get, set);
    }

    /** A value the destination must already hold: one of the {@code … equal} types. */
    public VmStateBuilder<T> equal(VmStateType type, String field, ToLongFunction<T> current) {
        if (type.check() != VmStateType.Check.EQUAL) {
            throw new IllegalArgumentException("not an equal type: " + type);
        }
        return scalar(type, field, current, (o, v) -> { });
    }

    /** {@code int32 le}: the loaded value must lie in {@code [0, current]}, then it is stored. */
    public VmStateBuilder<T> int32Le(String field, ToLongFunction<T> get, ObjLongConsumer<T> set) {
        return scalar(VmStateType.INT32_LE, field, get, set);
    }

    /** {@code count} raw bytes, loaded in place into the array {@code bytes} returns. */
    public VmStateBuilder<T> buffer(String field, int count, Function<T, byte[]> bytes) {
        return field(new VmStateField.Buffer<>(field, Presence.always(), count, bytes));
    }

    /** Raw bytes whose length is an earlier field's value, at most {@code max}. */
    public VmStateBuilder<T> vbuffer(String field, ToLongFunction<T> length, int max, Function<T, byte[]> get,
                                     BiConsumer<T, byte[]> set) {
        return field(new VmStateField.VBuffer<>(field, Presence.always(), length, max, get, set));
    }

    /**
     * {@code count} bytes written as zeros and skipped on load (QEMU's VMSTATE_UNUSED): keeps the layout of a
     * field a newer version dropped.
     */
    public VmStateBuilder<T> unused(String field, int count) {
        return field(new VmStateField.Unused<>(field, Presence.always(), count));
    }

    /** A fixed array of {@code count} integers, loaded in place. */
    public VmStateBuilder<T> array(VmStateType type, String field, int count, Function<T, long[]> values) {
        return field(new VmStateField.IntArray<>(field, Presence.always(), type, o -> count, count, values));
    }

    /** An array of integers whose length is an earlier field's value, at most {@code max}; loaded in place. */
    public VmStateBuilder<T> varray(VmStateType type, String field, ToLongFunction<T> count, int max,
                                    Function<T, long[]> values) {
        return field(new VmStateField.IntArray<>(field, Presence.always(), type, count, max, values));
    }

    /**
     * The nested object {@code element} returns, saved and loaded in place by its own description at that description's
     * version.
     */
    public <S> VmStateBuilder<T> struct(String field, VmStateDescription<S> description, Function<T, S> element) {
        return field(new VmStateField.Struct<>(field, Presence.always(), description, element));
    }

    /** A fixed array of {@code count} structures, loaded in place into the list's elements. */
    public <S> VmStateBuilder<T> structArray(String field, int count, VmStateDescription<S> description,
                                             Function<T, ? extends List<S>> elements) {
        return field(new VmStateField.StructArray<>(field, Presence.always(), description, o -> count, count, elements));
    }

    /** An array of structures whose length is an earlier field's value, at most {@code max}. */
    public <S> VmStateBuilder<T> structVarray(String field, ToLongFunction<T> count, int max,
                                              VmStateDescription<S> description, Function<T, ? extends List<S>> elements) {
        return field(new VmStateField.StructArray<>(field, Presence.always(), description, count, max, elements));
    }

    /** A subsection written when its description's own {@code needed} is true. */
    public VmStateBuilder<T> subsection(VmStateDescription<T> description) {
        return subsection(description, description::needed);
    }

    /**
     * A subsection written when {@code isNeeded} is true, whatever its description's own {@code needed} says.
     * Its name must start with this description's name ({@link #build} checks).
     */
    public VmStateBuilder<T> subsection(VmStateDescription<T> description, Predicate<T> isNeeded) {
        subsections.add(new Subsection<>(description, isNeeded));
        return this;
    }

    /** The pre_save hook, run before the fields are written (replaces an earlier one). */
    public VmStateBuilder<T> preSave(VmStateHook<T> hook) {
        this.preSave = hook;
        return this;
    }

    /** The pre_load hook, run before the fields are read (replaces an earlier one). */
    public VmStateBuilder<T> preLoad(VmStateHook<T> hook) {
        this.preLoad = hook;
        return this;
    }

    /** The post_load hook, run after the fields and subsections were read (replaces an earlier one). */
    public VmStateBuilder<T> postLoad(PostLoadHook<T> hook) {
        this.postLoad = hook;
        return this;
    }

    /** For a top-level description: whether a section is sent at all; for a subsection: whether it is written. */
    public VmStateBuilder<T> needed(Predicate<T> isNeeded) {
        this.needed = isNeeded;
        return this;
    }

    /**
     * The description of what was added so far.
     *
     * @throws IllegalArgumentException if the name has not 1 to 255 bytes, the minimum version is above the
     *         version, or a subsection's name does not start with this description's
     */
    public VmStateDescription<T> build() {
        return new VmStateDescription<>(name, versionId, minimumVersionId, fields, subsections,
                new VmStateDescription.Hooks<>(preSave, preLoad, postLoad, needed));
    }
}
