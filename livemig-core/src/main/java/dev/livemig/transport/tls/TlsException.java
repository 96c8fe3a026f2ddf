package dev.livemig.transport.tls;

import java.io.IOException;

/**
 * A TLS failure with a message in QEMU's words where QEMU has them (a handshake refused, a certificate that does
 * not verify, credentials that cannot be loaded): an IOException, because it ends the channel it happened on.
 */
public class TlsException extends IOException {
    /** A failure said in {@code message}. */
    public TlsException(String message) {
        super(message);
    }

    /** A failure said in {@code message}, which {@code cause} led to. */
    public TlsException(String message, Throwable cause) {
        super(message, cause);
    }
}
