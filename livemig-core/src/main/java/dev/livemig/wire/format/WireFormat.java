package dev.livemig.wire.format;

/**
 * The constants of QEMU's migration stream, defined once (see docs/format.md §0.3, §2, §3).
 */
public final class WireFormat {
    private WireFormat() {
    }

    /** QEMU_VM_FILE_MAGIC, the stream's first four bytes. */
    public static final int FILE_MAGIC = 0x5145564d; // "QEVM"
    /** QEMU_VM_FILE_VERSION, the only version written and read. */
    public static final int FILE_VERSION = 3;
    /** QEMU_VM_FILE_VERSION_COMPAT, the old "v2" format: recognised only to be refused with its own message. */
    public static final int FILE_VERSION_COMPAT = 2;

    /** QEMU_VM_EOF: the end of the device state; the vmdescription trailer may follow. */
    public static final int EOF = 0x00;
    /** QEMU_VM_SECTION_START: the first section of a live handler, with its header. */
    public static final int SECTION_START = 0x01;
    /** QEMU_VM_SECTION_PART: an iteration of a live handler, by section id. */
    public static final int SECTION_PART = 0x02;
    /** QEMU_VM_SECTION_END: a live handler's last section, by section id. */
    public static final int SECTION_END = 0x03;
    /** QEMU_VM_SECTION_FULL: a device's whole state in one section, with its header. */
    public static final int SECTION_FULL = 0x04;
    /** QEMU_VM_SUBSECTION: a VMState subsection inside a section's body. */
    public static final int SUBSECTION = 0x05;
    /** QEMU_VM_VMDESCRIPTION: the JSON trailer after EOF. */
    public static final int VMDESCRIPTION = 0x06;
    /** QEMU_VM_CONFIGURATION: the configuration record after the header. */
    public static final int CONFIGURATION = 0x07;
    /** QEMU_VM_COMMAND: a command record ({@link MigrationCommand}). */
    public static final int COMMAND = 0x08;
    /** QEMU_VM_SECTION_FOOTER: closes each section, repeating its id. */
    public static final int SECTION_FOOTER = 0x7e;

    /** Longest idstr QEMU accepts (it is a str8, and QEMU's buffer holds 256 bytes with the NUL). */
    public static final int MAX_IDSTR = 255;

    /** Largest vmdescription JSON we accept when reading: QEMU's own runs to hundreds of KiB. */
    public static final int MAX_VMDESCRIPTION = 64 << 20;

    /** Name of a record type byte, for messages. */
    public static String recordName(int type) {
        return switch (type) {
            case EOF -> "EOF";
            case SECTION_START -> "SECTION_START";
            case SECTION_PART -> "SECTION_PART";
            case SECTION_END -> "SECTION_END";
            case SECTION_FULL -> "SECTION_FULL";
            case SUBSECTION -> "SUBSECTION";
            case VMDESCRIPTION -> "VMDESCRIPTION";
            case CONFIGURATION -> "CONFIGURATION";
            case COMMAND -> "COMMAND";
            case SECTION_FOOTER -> "SECTION_FOOTER";
            default -> String.format("0x%02x", type);
        };
    }
}
