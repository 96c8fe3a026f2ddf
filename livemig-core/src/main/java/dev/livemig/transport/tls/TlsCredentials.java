package dev.livemig.transport.tls;

import dev.livemig.transport.MigrationChannel;

/**
 * Credentials for TLS migration channels: QEMU's tls-creds-x509 or tls-creds-psk object. Each opens sessions for
 * the endpoint it was created for; the handshake runs when the session's {@link TlsSession#handshake()} is called.
 */
public interface TlsCredentials extends UserObject {
    /** The endpoint these credentials were created for. */
    TlsEndpoint endpoint();

    /**
     * A client session over {@code raw}; {@code hostname} is what the server's certificate must match (x509
     * credentials with verify-peer need one; PSK ignores it).
     */
    TlsSession client(MigrationChannel raw, String hostname) throws TlsException;

    /** A server session over {@code raw}; {@code authz} (null: none) must allow the client's identity. */
    TlsSession server(MigrationChannel raw, TlsAuthz authz) throws TlsException;
}
