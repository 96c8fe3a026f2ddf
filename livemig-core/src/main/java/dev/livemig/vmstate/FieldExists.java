package dev.livemig.vmstate;

/**
 * A field's existence test (QEMU's {@code field_exists}): given the object and the version being saved or
 * loaded, whether the field is on the wire. When present it is the only rule, the field's version is ignored.
 */
@FunctionalInterface
public interface FieldExists<T> {
    /**
     * Whether the field is on the wire for {@code object} at {@code versionId}. On load the fields before it are
     * loaded already, so the test may read them.
     */
    boolean test(T object, int versionId);
}
