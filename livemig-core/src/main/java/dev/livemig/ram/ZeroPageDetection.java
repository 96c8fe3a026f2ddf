package dev.livemig.ram;

/**
 * QEMU's zero-page-detection parameter (9.0): where a source finds zero pages. {@code NONE} sends every page
 * with its data; {@code LEGACY} finds them on the migration thread and sends ZERO records on the main stream;
 * {@code MULTIFD} lets multifd list them inside its packets (without multifd, the main stream's ZERO records
 * as in legacy). Machine types up to 8.2 default to legacy, later ones to multifd.
 */
public enum ZeroPageDetection {
    NONE("none"),
    LEGACY("legacy"),
    MULTIFD("multifd");

    private final String qemuName;

    ZeroPageDetection(String qemuName) {
        this.qemuName = qemuName;
    }

    public String qemuName() {
        return qemuName;
    }

    /** The value QMP names {@code name}; the parameter's own check has refused anything else before. */
    public static ZeroPageDetection byQemuName(String name) {
        for (ZeroPageDetection z : values()) {
            if (z.qemuName.equals(name)) {
                return z;
            }
        }
        throw new IllegalArgumentException("zero-page-detection: " + name);
    }
}
