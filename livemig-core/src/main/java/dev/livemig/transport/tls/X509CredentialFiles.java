package dev.livemig.transport.tls;

/**
 * The files of one tls-creds-x509 endpoint, as {@code qcrypto_tls_creds_get_path} finds them ({@link
 * CredentialsDir}): "dir/name" (written as QEMU writes it), null for an optional file that does not exist.
 */
record X509CredentialFiles(String caCert, String caCrl, String cert, String key, String dhParams) {
    // the files QEMU reads from dir (crypto/tlscredsx509.h)
    static final String CA_CERT = "ca-cert.pem";
    static final String CA_CRL = "ca-crl.pem";
    static final String SERVER_CERT = "server-cert.pem";
    static final String SERVER_KEY = "server-key.pem";
    static final String CLIENT_CERT = "client-cert.pem";
    static final String CLIENT_KEY = "client-key.pem";

    /** A server needs its certificate and key; a client may go without (and a server then refuses it). */
    static X509CredentialFiles locate(TlsEndpoint endpoint, String dir) throws UserObjectException {
        if (endpoint == TlsEndpoint.SERVER) {
            String caCert = CredentialsDir.file(dir, CA_CERT, true);
            String caCrl = CredentialsDir.file(dir, CA_CRL, false);
            String cert = CredentialsDir.file(dir, SERVER_CERT, true);
            String key = CredentialsDir.file(dir, SERVER_KEY, true);
            String dhParams = CredentialsDir.file(dir, CredentialsDir.DH_PARAMS, false);
            return new X509CredentialFiles(caCert, caCrl, cert, key, dhParams);
        }
        String caCert = CredentialsDir.file(dir, CA_CERT, true);
        String cert = CredentialsDir.file(dir, CLIENT_CERT, false);
        String key = CredentialsDir.file(dir, CLIENT_KEY, false);
        return new X509CredentialFiles(caCert, null, cert, key, null);
    }
}
