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

    public QmpError(String command, String errorClass, String desc) {
        super("QMP " + command + " failed: " + errorClass + ": " + desc);
        this.command = command;
        this.errorClass = errorClass;
        this.desc = desc;
    }

    public String command() {
        return command;
    }

    public String errorClass() {
        return errorClass;
    }

    public String desc() {
        return desc;
    }
}
