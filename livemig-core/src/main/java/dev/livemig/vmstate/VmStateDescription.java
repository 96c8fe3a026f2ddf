package dev.livemig.vmstate;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * The declarative description ("vmsd", §4) of the migratable state of objects of type {@code T}: a name, a
 * version and minimum version, ordered fields, ordered subsections and hooks. Immutable and shareable between
 * threads; the objects it describes are not touched except through the accessors and hooks it holds.
 *
 * <p>{@link VmStateCodec} saves an object at {@link #versionId()} and loads one at any version in
 * {@code [minimumVersionId, versionId]}. {@link #needed(Object)} is for the layer above: when it is false for a
 * top-level description, no section is sent for the object at all. Build one with {@link #builder(String)}.
 */
public final class VmStateDescription<T> {
    private final String name;
    private final int versionId;
    private final int minimumVersionId;
    private final List<VmStateField<T>> fields;
    private final List<String> jsonNames;
    private final List<Subsection<T>> subsections;
    private final Hooks<T> hooks;
    private final boolean compressible;

    /** The hooks of a description; all are no-ops unless set. */
    record Hooks<T>(VmStateHook<T> preSave, VmStateHook<T> preLoad, PostLoadHook<T> postLoad, Predicate<T> needed) {
    }

    VmStateDescription(String name, int versionId, int minimumVersionId, List<VmStateField<T>> fields,
                       List<Subsection<T>> subsections, Hooks<T> hooks) {
        if (name.isEmpty() || name.getBytes(StandardCharsets.ISO_8859_1).length > 255) {
            throw new IllegalArgumentException("vmsd name must be 1..255 bytes: \"" + name + "\"");
        }
        if (minimumVersionId > versionId) {
            throw new IllegalArgumentException("vmsd " + name + ": minimum version " + minimumVersionId
                    + " above version " + versionId);
        }
        for (Subsection<T> s : subsections) {
            String sub = s.description().name();
            // the loader recognises a subsection only by this prefix (§4.6 steps 2-3)
            if (!sub.startsWith(name) || sub.length() <= name.length()) {
                throw new IllegalArgumentException("subsection " + sub + " of " + name + " must be named " + name + "...");
            }
        }
        this.name = name;
        this.versionId = versionId;
        this.minimumVersionId = minimumVersionId;
        this.fields = List.copyOf(fields);
        this.jsonNames = jsonNames(this.fields);
        this.subsections = List.copyOf(subsections);
        this.hooks = hooks;
        this.compressible = this.subsections.isEmpty() && this.fields.stream().allMatch(VmStateField::compressible);
    }

    /** Starts a description named {@code name} (1 to 255 bytes, checked when it is built): QEMU's vmsd name. */
    public static <T> VmStateBuilder<T> builder(String name) {
        return new VmStateBuilder<>(name);
    }

    /** The vmsd name, as the JSON trailer and subsection headers carry it. */
    public String name() {
        return name;
    }

    /** The version saves write (QEMU's version_id). */
    public int versionId() {
        return versionId;
    }

    /** The oldest version a load accepts (QEMU's minimum_version_id). */
    public int minimumVersionId() {
        return minimumVersionId;
    }

    /** The fields in wire order, unmodifiable. */
    public List<VmStateField<T>> fields() {
        return fields;
    }

    /** The subsections in the order they are written, unmodifiable. */
    public List<Subsection<T>> subsections() {
        return subsections;
    }

    /** Whether a top-level section for this object should be sent at all (§4.4). */
    public boolean needed(T object) {
        return hooks.needed().test(object);
    }

    Hooks<T> hooks() {
        return hooks;
    }

    /** The JSON name of field {@code i}: its name, suffixed {@code [k]} when the name is declared more than once. */
    String jsonName(int i) {
        return jsonNames.get(i);
    }

    /** The first subsection with this exact name, or null (QEMU's lookup, §4.6 step 4). */
    Subsection<T> subsection(String subsectionName) {
        for (Subsection<T> s : subsections) {
            if (s.description().name().equals(subsectionName)) {
                return s;
            }
        }
        return null;
    }

    /** An array of this struct may share one JSON object: no existence tests anywhere, no subsections (§5.3). */
    boolean compressible() {
        return compressible;
    }

    private static <T> List<String> jsonNames(List<VmStateField<T>> fields) {
        Map<String, Integer> declared = new HashMap<>();
        fields.forEach(f -> declared.merge(f.name(), 1, Integer::sum));
        Map<String, Integer> seen = new HashMap<>();
        List<String> out = new ArrayList<>(fields.size());
        for (VmStateField<T> f : fields) {
            int k = seen.merge(f.name(), 1, Integer::sum) - 1;
            out.add(declared.get(f.name()) > 1 ? f.name() + "[" + k + "]" : f.name());
        }
        return List.copyOf(out);
    }

    @Override
    public String toString() {
        return "VmStateDescription[" + name + " v" + versionId + "]";
    }
}
