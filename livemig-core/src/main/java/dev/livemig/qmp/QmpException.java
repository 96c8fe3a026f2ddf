package dev.livemig.qmp;

/**
 * A command's failure as QMP reports it: QEMU's error class ({@code GenericError}, {@code CommandNotFound})
 * and the human-readable {@code desc}. The session turns it into {@code {"error": {"class", "desc"}}}.
 */
public final class QmpException extends Exception {
    public static final String GENERIC_ERROR = "GenericError";
    public static final String COMMAND_NOT_FOUND = "CommandNotFound";

    private final String errorClass;

    public QmpException(String errorClass, String desc) {
        super(desc);
        this.errorClass = errorClass;
    }

    public static QmpException generic(String desc) {
        return new QmpException(GENERIC_ERROR, desc);
    }

    public String errorClass() {
        return errorClass;
    }

    public String desc() {
        return getMessage();
    }
}
