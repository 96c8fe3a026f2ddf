package dev.livemig.transport.tls;

import java.util.Arrays;
import java.util.Optional;

/** Which side of a TLS handshake credentials serve (QEMU's {@code endpoint} property of tls-creds objects). */
public enum TlsEndpoint {
    CLIENT("client"), SERVER("server");

    private final String qemuName;

    TlsEndpoint(String qemuName) {
        this.qemuName = qemuName;
    }

    /** The property value QEMU uses: {@code client} or {@code server}. */
    public String qemuName() {
        return qemuName;
    }

    /** The endpoint QEMU calls {@code name}, if any. */
    static Optional<TlsEndpoint> byQemuName(String name) {
        return Arrays.stream(values()).filter(e -> e.qemuName.equals(name)).findFirst();
    }
}
