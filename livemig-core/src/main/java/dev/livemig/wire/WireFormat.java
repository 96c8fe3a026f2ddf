package dev.livemig.wire;

/**
 * The constants of QEMU's migration stream, defined once (see docs/format.md §0.3, §2, §3).
 */
public final class WireFormat {
    private WireFormat() {
    }

    public static final int FILE_MAGIC = 0x5145564d; // "QEVM"
    public static final int FILE_VERSION = 3;
    public static final int FILE_VERSION_COMPAT = 2;

    public static final int EOF = 0x00;
    public static final int SECTION_START = 0x01;
    public static final int SECTION_PART = 0x02;
    public static final int SECTION_END = 0x03;
    public static final int SECTION_FULL = 0x04;
    public static final int SUBSECTION = 0x05;
    public static final int VMDESCRIPTION = 0x06;
    public static final int CONFIGURATION = 0x07;
    public static final int COMMAND = 0x08;
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
