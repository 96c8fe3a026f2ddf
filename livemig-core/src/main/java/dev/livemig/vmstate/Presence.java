package dev.livemig.vmstate;

/**
 * When a field is on the wire (§4.3 rule 1): its existence test if it has one, otherwise
 * {@code since <= version}. The existence test also makes arrays non-compressible in the JSON (§5.3).
 *
 * @param since the field's version_id
 * @param test  the existence test, or null for none
 */
public record Presence<T>(int since, FieldExists<T> test) {
    /** On the wire at every version: since 0, no existence test. */
    public static <T> Presence<T> always() {
        return new Presence<>(0, null);
    }

    /** Whether the field is on the wire for {@code object} at {@code versionId}. */
    public boolean includedIn(T object, int versionId) {
        return test != null ? test.test(object, versionId) : since <= versionId;
    }

    /** Whether an existence test decides, rather than the version. */
    public boolean hasTest() {
        return test != null;
    }

    Presence<T> since(int version) {
        return new Presence<>(version, test);
    }

    Presence<T> onlyIf(FieldExists<T> exists) {
        return new Presence<>(since, exists);
    }
}
