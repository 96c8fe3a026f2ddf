package dev.livemig.transport.tls;

/**
 * An object that cannot be created (or deleted) as asked: a property of the wrong type or value, a file that cannot be
 * read, a certificate that fails QEMU's sanity checks. The message is QEMU's text for the same case.
 */
public class UserObjectException extends Exception {
    /** A refusal said in {@code message} (QEMU's text). */
    public UserObjectException(String message) {
        super(message);
    }

    /** A refusal said in {@code message} (QEMU's text), which {@code cause} led to. */
    public UserObjectException(String message, Throwable cause) {
        super(message, cause);
    }
}
