package dev.livemig.qmp;

import java.io.IOException;

/**
 * QEMU answered a QMP command with {@code {"error": {"class": ..., "desc": ...}}}. Carries the command,
 * QEMU's error class (e.g. {@code CommandNotFound}, {@code GenericError}) and its human-readable text.
 */
public final class QmpError extends IOException {
    private static final long serialVersionUID = 1L;

    private final String command;
    private final String errorClass;
    private final String desc;

    /** The error QEMU (or livemig's server) returned for {@code command}. */
    public QmpError(String command, String errorClass, String desc) {
        super("QMP " + command + " failed: " + errorClass + ": " + desc);
        this.command = command;
        this.errorClass = errorClass;
        this.desc = desc;
    }

    /** The command that failed, e.g. {@code migrate}. */
    public String command() {
        return command;
    }

    /** QEMU's error class, e.g. {@code GenericError}. */
    public String errorClass() {
        return errorClass;
    }

    /** QEMU's text of the error, as the reply's {@code desc} had it. */
    public String desc() {
        return desc;
    }
}
