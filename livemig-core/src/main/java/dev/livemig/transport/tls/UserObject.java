package dev.livemig.transport.tls;

/**
 * One of QEMU's user-creatable objects that migration refers to by id (object-add, {@code -object}): TLS
 * credentials, or an authorization list for client certificates.
 */
public interface UserObject {
    /** The id it was created under, unique in its process. */
    String id();

    /** QEMU's type name ({@code qom-type}): tls-creds-x509, tls-creds-psk, authz-simple, authz-list, authz-listfile. */
    String qomType();
}
