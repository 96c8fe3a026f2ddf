package dev.livemig.qmp;

/**
 * A command's failure as QMP reports it: QEMU's error class ({@code GenericError}, {@code CommandNotFound})
 * and the human-readable {@code desc}. The session turns it into {@code {"error": {"class", "desc"}}}.
 */
public final class QmpException extends Exception {
    /** QEMU's error class of nearly every failure. */
    public static final String GENERIC_ERROR = "GenericError";
    /** QEMU's error class of an unknown command, and of any command before capability negotiation. */
    public static final String COMMAND_NOT_FOUND = "CommandNotFound";

    private final String errorClass;

    /** A failure of QEMU's class {@code errorClass} with the text {@code desc}. */
    public QmpException(String errorClass, String desc) {
        super(desc);
        this.errorClass = errorClass;
    }

    /** A {@value #GENERIC_ERROR} with this text. */
    public static QmpException generic(String desc) {
        return new QmpException(GENERIC_ERROR, desc);
    }

    /** The error class the reply carries. */
    public String errorClass() {
        return errorClass;
    }

    /** The text the reply carries as {@code desc}. */
    public String desc() {
        return getMessage();
    }
}
