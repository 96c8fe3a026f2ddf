package dev.livemig.transport.tls;

/**
 * An authorization object (QEMU's authz-simple, authz-list, authz-listfile): decides whether a client identity —
 * for x509 the distinguished name of its certificate, as QEMU formats it — may migrate in.
 */
public interface TlsAuthz extends UserObject {
    /** Whether {@code identity} is allowed; an authz that cannot decide (a list file gone bad) throws. */
    boolean isAllowed(String identity) throws TlsException;
}
