package dev.livemig.qemu;

import java.io.IOException;

/**
 * A QEMU process did not do what the harness asked: it exited, timed out, or reported a failed migration.
 * The message always ends with the tail of the process's stderr log, because that is where QEMU explains
 * itself (e.g. "Unknown ramblock ..., cannot accept migration").
 */
public final class QemuException extends IOException {
    private static final long serialVersionUID = 1L;

    public QemuException(String message) {
        super(message);
    }

    public QemuException(String message, Throwable cause) {
        super(message, cause);
    }
}
