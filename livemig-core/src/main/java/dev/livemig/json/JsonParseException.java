package dev.livemig.json;

/**
 * Malformed JSON: {@link #desc()} words the fault as QEMU's QMP parser does ("JSON parse error, stray '01'"),
 * {@link #offset()} is where it was found, in bytes of the UTF-8 text.
 */
public final class JsonParseException extends Exception {
    private final String desc;
    private final int offset;

    /** A fault worded as QEMU words it, found at byte {@code offset} of the UTF-8 text. */
    public JsonParseException(String desc, int offset) {
        super(desc + ": offset=" + offset);
        this.desc = desc;
        this.offset = offset;
    }

    /** The fault without its position: what a QMP error reply carries. */
    public String desc() {
        return desc;
    }

    /** Where the fault was found: a byte offset into the UTF-8 text. */
    public int offset() {
        return offset;
    }
}
