package dev.livemig.wire;

/**
 * The one error type of a migration stream: malformed input, a dead peer, a refused capability.
 *
 * <p>Readers translate I/O and protocol faults into this exception exactly once, at the point where the
 * byte offset and the section being read are known; the message then carries both as key=value pairs
 * ({@code section=ram offset=0x1022}) so that an operator can find the fault in a capture.
 */
public final class MigrationException extends Exception {
    private final String bare;
    private final String section;
    private final long offset;

    public MigrationException(String message) {
        this(message, null, -1, null);
    }

    public MigrationException(String message, Throwable cause) {
        this(message, null, -1, cause);
    }

    public MigrationException(String message, String section, long offset, Throwable cause) {
        super(describe(message, section, offset), cause);
        this.bare = message;
        this.section = section;
        this.offset = offset;
    }

    /** The section (idstr) being processed when the fault was found, or null when none was. */
    public String section() {
        return section;
    }

    /** Byte offset in the stream where the fault was found, or -1 when unknown. */
    public long offset() {
        return offset;
    }

    /** The message without the section and offset suffix (for wrapping with more context). */
    public String bareMessage() {
        return bare;
    }

    /** Copies this error with a section name added, keeping the offset (used when a handler's error leaves it). */
    public MigrationException inSection(String sectionName) {
        if (section != null || sectionName == null) {
            return this;
        }
        return new MigrationException(bare, sectionName, offset, this);
    }

    private static String describe(String message, String section, long offset) {
        if (section == null && offset < 0) {
            return message;
        }
        var sb = new StringBuilder(message).append(" (");
        if (section != null) {
            sb.append("section=").append(section);
        }
        if (offset >= 0) {
            if (section != null) {
                sb.append(' ');
            }
            sb.append("offset=0x").append(Long.toHexString(offset));
        }
        return sb.append(')').toString();
    }
}
