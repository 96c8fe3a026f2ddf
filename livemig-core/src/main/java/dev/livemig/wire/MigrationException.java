package dev.livemig.wire;

/**
 * The one error type of a migration stream: malformed input, a dead peer. A configuration the caller gave
 * that cannot be used (an unknown capability, a parameter out of range, a forbidden combination) is the
 * subclass {@link dev.livemig.migration.MigrationConfigException}: no stream is involved, so it never names a
 * section or an offset, and a caller may tell its own mistake from a peer's.
 *
 * <p>Readers translate I/O and protocol faults into this exception exactly once, at the point where the
 * byte offset and the section being read are known; the message then carries both as key=value pairs
 * ({@code section=ram offset=0x1022}) so that an operator can find the fault in a capture.
 *
 * <p>A stream is hostile: text taken from it (an idstr, a block name) is escaped where it enters a message
 * with {@link #quote(String)}, and every message is passed through {@link #printable(String)} once more here,
 * so that no control or bidi character from a stream reaches an operator's terminal.
 */
public class MigrationException extends Exception {
    private final String bare;
    private final String section;
    private final long offset;

    /** A fault found where no section or offset is known. */
    public MigrationException(String message) {
        this(message, null, -1, null);
    }

    /** A fault caused by {@code cause} (an IOException of the channel, say), no section or offset known. */
    public MigrationException(String message, Throwable cause) {
        this(message, null, -1, cause);
    }

    /**
     * A fault found in {@code section} (an idstr from the stream, quoted in the message; null for none) at byte
     * {@code offset} of the stream (-1 when unknown); {@code cause} may be null.
     */
    public MigrationException(String message, String section, long offset, Throwable cause) {
        super(printable(describe(message, section == null ? null : quote(section), offset)), cause);
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

    /**
     * Text from a stream (bytes held as Latin-1 chars, as {@link StreamReader#str8()} returns them), fit for a
     * message: printable ASCII stays, a backslash becomes {@code \\}, every other byte {@code \xNN}.
     */
    public static String quote(String streamText) {
        if (streamText == null) {
            return "null";
        }
        StringBuilder sb = null;
        for (int i = 0; i < streamText.length(); i++) {
            char c = streamText.charAt(i);
            boolean plain = c >= 0x20 && c < 0x7f && c != '\\';
            if (plain && sb == null) {
                continue;
            }
            if (sb == null) {
                sb = new StringBuilder(streamText.length() + 16).append(streamText, 0, i);
            }
            if (plain) {
                sb.append(c);
            } else if (c == '\\') {
                sb.append("\\\\");
            } else {
                escape(sb, c);
            }
        }
        return sb == null ? streamText : sb.toString();
    }

    /**
     * {@code text} with every control character (C0, DEL, C1), bidi control and line or paragraph separator
     * escaped ({@code \xNN}, a backslash, u and the hex code in braces); everything else, backslashes included, as it is.
     */
    public static String printable(String text) {
        StringBuilder sb = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            boolean plain = !unsafe(c);
            if (plain && sb == null) {
                continue;
            }
            if (sb == null) {
                sb = new StringBuilder(text.length() + 16).append(text, 0, i);
            }
            if (plain) {
                sb.append(c);
            } else {
                escape(sb, c);
            }
        }
        return sb == null ? text : sb.toString();
    }

    private static boolean unsafe(char c) {
        return c < 0x20 || (c >= 0x7f && c <= 0x9f)
                || c == 0x061c || c == 0x200e || c == 0x200f || (c >= 0x202a && c <= 0x202e)
                || (c >= 0x2066 && c <= 0x2069) || c == 0x2028 || c == 0x2029
                || Character.isSurrogate(c); // a pair may hide a tag or an unpaired half: never needed in a message
    }

    private static void escape(StringBuilder sb, char c) {
        if (c <= 0xff) {
            sb.append("\\x").append(Character.forDigit(c >> 4, 16)).append(Character.forDigit(c & 0xf, 16));
        } else {
            sb.append("\\u{").append(Integer.toHexString(c)).append('}');
        }
    }

    /**
     * Why {@code e} happened, as a message's tail: the operating system's reason where Java keeps it apart
     * from the path ({@code NoSuchFileException.getMessage()} is only the path), else the message, else the
     * exception's kind.
     */
    public static String reason(Throwable e) {
        if (e instanceof java.nio.file.FileSystemException f) {
            if (f.getReason() != null) {
                return f.getReason();
            }
            return switch (f) {
                case java.nio.file.NoSuchFileException _ -> "no such file or directory";
                case java.nio.file.AccessDeniedException _ -> "permission denied";
                case java.nio.file.FileAlreadyExistsException _ -> "file exists";
                case java.nio.file.NotDirectoryException _ -> "not a directory";
                case java.nio.file.DirectoryNotEmptyException _ -> "directory not empty";
                case java.nio.file.NotLinkException _ -> "not a symbolic link";
                default -> f.getClass().getSimpleName();
            };
        }
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
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
