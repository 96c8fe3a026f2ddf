package dev.livemig.transport.tls;

import dev.livemig.transport.MigrationChannel;
import dev.livemig.wire.MigrationException;
import org.bouncycastle.tls.AlertDescription;
import org.bouncycastle.tls.TlsFatalAlert;
import org.bouncycastle.tls.TlsFatalAlertReceived;

import java.io.EOFException;
import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.util.Arrays;
import java.util.Optional;

/**
 * What a {@link PskSession} knew when it failed, and why it failed in words that point at the cause: PSK peers
 * learn little from each other (gnutls answers an unknown username with a random key, QEMU hangs up without an
 * alert), so an alert or a hang-up is turned into what it most likely means for the keys.
 *
 * @param endpoint        this side
 * @param raw             the raw channel, for messages
 * @param input           what the raw channel brought (the peer's first bytes, its end or failure)
 * @param handshakeDone   whether the handshake had completed
 * @param protocolFailed  whether BouncyCastle had already failed the connection
 * @param identity        the identity sent (client) or received (server), printable; null if not known
 * @param unknownIdentity a server's text for an identity keys.psk lacks (it used a random key); null otherwise
 * @param lookupFailure   why a server could not look an identity up (keys.psk unreadable or malformed); or null
 * @param keysPath        a server's keys.psk; null for a client
 */
record PskSessionFailure(TlsEndpoint endpoint, MigrationChannel raw, RawChannelInput input, boolean handshakeDone,
                         boolean protocolFailed, String identity, String unknownIdentity, TlsException lookupFailure,
                         String keysPath) {

    /** Why the session failed with {@code e}. */
    String reason(Throwable e) {
        if (lookupFailure != null) {
            return lookupFailure.getMessage();
        }
        if (e instanceof TlsException ours) {
            return ours.getMessage();
        }
        Optional<String> notTls = input.notTls();
        if (notTls.isPresent()) {
            return notTls.get();
        }
        if (input.broken() instanceof ClosedChannelException) {
            return "the channel was closed on this side (" + raw.describe() + ")"; // a handshake timeout, say
        }
        boolean hungUp = input.ended() || input.broken() != null;
        if (!handshakeDone && hungUp && !(e instanceof TlsFatalAlertReceived)) {
            return closedDuringHandshake();
        }
        if (e instanceof EOFException) {
            return "the " + peer() + " closed the connection in the middle of a TLS record (" + raw.describe() + ")";
        }
        return switch (e) {
            case TlsFatalAlertReceived r -> withHint(r.getAlertDescription(), true,
                    "the " + peer() + " sent alert " + AlertDescription.getText(r.getAlertDescription()));
            case TlsFatalAlert a -> withHint(a.getAlertDescription(), a.getMessage().contains("cipher suite"),
                    "alert " + a.getMessage());
            default -> protocolFailed && handshakeDone
                    ? "the session failed earlier (" + MigrationException.reason(e) + ")"
                    : MigrationException.reason(e);
        };
    }

    /**
     * What an alert says of the keys, or of what the peers have in common, then the alert itself; {@code vague}: a
     * handshake_failure says nothing more (one received, or BouncyCastle's "no selectable cipher suite").
     */
    private String withHint(short alert, boolean vague, String what) {
        String hint = switch (alert) {
            case AlertDescription.decrypt_error, AlertDescription.bad_record_mac -> keyMismatch();
            // gnutls refuses a PSK binder that does not verify so
            case AlertDescription.illegal_parameter ->
                    endpoint == TlsEndpoint.CLIENT && !handshakeDone ? keyMismatch() : null;
            case AlertDescription.unknown_psk_identity -> "the server does not know username " + identity;
            case AlertDescription.protocol_version -> "no TLS version in common (livemig speaks TLSv1.3 and TLSv1.2)";
            case AlertDescription.handshake_failure, AlertDescription.insufficient_security -> !vague ? null
                    : "no TLS version and cipher suite in common with a PSK key exchange (livemig offers "
                            + Arrays.toString(PskCipherSuite.values()) + ")";
            default -> null;
        };
        return hint == null ? what : hint + " (" + what + ")";
    }

    private String keyMismatch() {
        if (endpoint == TlsEndpoint.CLIENT) {
            return "the server has another key for username " + identity + ", or no such username";
        }
        if (unknownIdentity != null) {
            return unknownIdentity;
        }
        return identity == null ? "the client's key is not ours"
                : "the client's key for username " + identity + " is not the one in " + keysPath;
    }

    /**
     * The peer hung up mid-handshake. A QEMU server does so, without an alert, when it does not take the client's key
     * (with TLS 1.3 right after the ClientHello); a server without TLS, after reading the ClientHello as a broken
     * migration stream. A client cannot tell which.
     */
    private String closedDuringHandshake() {
        IOException broken = input.broken();
        String closed = "the " + peer() + " closed the connection (" + raw.describe()
                + (broken != null ? ": " + MigrationException.reason(broken) : "") + ")";
        if (endpoint == TlsEndpoint.SERVER) {
            return closed;
        }
        return input.receivedAny()
                ? closed + " mid-handshake: " + keyMismatch() + " (QEMU hangs up without an alert)"
                : closed + " without answering: " + keyMismatch() + " (QEMU hangs up without an alert), or it listens"
                        + " without TLS";
    }

    private String peer() {
        return endpoint == TlsEndpoint.CLIENT ? "server" : "client";
    }
}
