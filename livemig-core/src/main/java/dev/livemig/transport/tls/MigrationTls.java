package dev.livemig.transport.tls;

import dev.livemig.transport.ChannelHandshake;
import dev.livemig.transport.MigrationChannel;
import dev.livemig.transport.MigrationUri;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The TLS every channel of one migration runs (QEMU's tls-creds, tls-hostname and tls-authz, resolved to objects):
 * the source opens a client session on each channel it connects, the destination a server session on each it
 * accepts. A handshake that does not complete within its timeout ends with the raw channel closed: a peer that
 * stalls mid-handshake cannot hold either end.
 *
 * @param credentials the credentials, of the endpoint this side is
 * @param hostname    tls-hostname: what the server certificate must match instead of the URI's host; empty for none
 * @param authz       the destination's check of client identities; null for none
 */
public record MigrationTls(TlsCredentials credentials, String hostname, TlsAuthz authz) implements ChannelHandshake {

    public MigrationTls {
        hostname = hostname == null ? "" : hostname;
    }

    /**
     * The TLS of one side of a migration from its parameters: tls-creds (non-empty) names credentials of this side's
     * endpoint, tls-hostname serves a client, tls-authz (empty: none) a server's authorization object, as QEMU
     * resolves them.
     */
    public static MigrationTls resolve(UserObjects objects, TlsEndpoint side, String credsId, String hostname, String authzId)
            throws TlsException {
        TlsCredentials credentials = objects.credentials(credsId, side);
        TlsAuthz authz = side == TlsEndpoint.SERVER && authzId != null && !authzId.isEmpty() ? objects.authz(authzId) : null;
        return new MigrationTls(credentials, side == TlsEndpoint.CLIENT ? hostname : "", authz);
    }

    /** The source's side: a client session on a channel just connected to {@code uri}, handshake done. */
    public TlsMigrationChannel connect(MigrationChannel raw, MigrationUri uri, Duration timeout) throws IOException {
        return handshake(raw, credentials.client(raw, hostnameFor(uri)), timeout);
    }

    /** The destination's side: a server session on a channel just accepted, handshake done. */
    @Override
    public TlsMigrationChannel accept(MigrationChannel raw, Duration timeout) throws IOException {
        return handshake(raw, credentials.server(raw, authz), timeout);
    }

    /**
     * What the server certificate must match: tls-hostname if set, else the host of a tcp: URI; none for other
     * transports (x509 credentials that verify their peer then refuse the session, as QEMU does).
     */
    String hostnameFor(MigrationUri uri) {
        if (!hostname.isEmpty()) {
            return hostname;
        }
        return uri instanceof MigrationUri.Tcp tcp ? tcp.host() : null;
    }

    private static TlsMigrationChannel handshake(MigrationChannel raw, TlsSession session, Duration timeout) throws IOException {
        var finished = new AtomicBoolean(); // whoever sets it decides: the handshake's end, or the watchdog's close
        var done = new CountDownLatch(1);
        var watchdog = Thread.ofVirtual().name("livemig-tls-handshake-watchdog").start(() -> {
            try {
                if (!done.await(timeout.toNanos(), TimeUnit.NANOSECONDS) && finished.compareAndSet(false, true)) {
                    MigrationChannel.closeQuietly(raw); // unblocks the handshake's read
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        IOException failure = null;
        try {
            session.handshake();
        } catch (IOException e) {
            failure = e;
        } finally {
            done.countDown();
            watchdog.interrupt();
        }
        if (!finished.compareAndSet(false, true)) {
            throw new TlsException("TLS handshake with " + raw.describe() + " did not complete within "
                    + timeout.toMillis() + " ms", failure);
        }
        if (failure != null) {
            throw failure;
        }
        return new TlsMigrationChannel(raw, session);
    }
}
