package dev.livemig.transport.tls;

/**
 * An object that cannot be created (or deleted) as asked: a property of the wrong type or value, a file that cannot be
 * read, a certificate that fails QEMU's sanity checks. The message is QEMU's text for the same case.
 */
public class UserObjectException extends Exception {
    public UserObjectException(String message) {
        super(message);
    }

    public UserObjectException(String message, Throwable cause) {
        super(message, cause);
    }
}
