package dev.livemig.qmp;

import java.time.Duration;

/**
 * What one {@link QmpServer} takes on, so that no client, and no number of clients, can make it hold unbounded
 * memory or hold up its shutdown. QEMU's monitor serves one client at a time; livemig serves several (a
 * management tool, an operator's qmp-shell, a monitoring probe), each within these bounds:
 * <ul>
 * <li>{@code maxClients}: clients connected at once; one more is answered with a QMP error instead of the
 *     greeting and closed.</li>
 * <li>{@code maxMessageBytes}: one message; a longer one is answered with an error and the client is closed
 *     (the stream cannot be resynchronised inside a message). A migration control plane sends a few KiB at most.</li>
 * <li>{@code maxBufferedBytes}: unfinished incoming messages of all clients together; a client whose message
 *     needs more room than is left is refused the same way. Must be at least {@code maxMessageBytes}.</li>
 * <li>{@code maxPendingOutputBytes}: replies and events queued for one client that does not read them; past it
 *     the client is dropped (and the server says so in its log) rather than waited for. An event is ~150 bytes.</li>
 * <li>{@code closeGrace}: on quit or close, how long all clients together get to receive what is queued for
 *     them (the quit reply, SHUTDOWN) before their connections are closed: one bound, not one per client.</li>
 * </ul>
 * With the defaults the server's buffers stay within 4 MiB for input and 16 MiB for output (each outbox also
 * takes one line beyond its limit when it is empty, so that any single reply can be sent), plus an 8 KiB read
 * buffer per client and the message being handled on each client's thread.
 */
public record QmpLimits(int maxClients, int maxMessageBytes, long maxBufferedBytes, int maxPendingOutputBytes,
                        Duration closeGrace) {
    /** The default {@code maxMessageBytes}: 1 MiB. */
    public static final int DEFAULT_MAX_MESSAGE_BYTES = 1 << 20;

    public QmpLimits {
        require(maxClients >= 1, "maxClients=" + maxClients + " (at least 1)");
        require(maxMessageBytes >= 256, "maxMessageBytes=" + maxMessageBytes + " (at least 256)");
        require(maxBufferedBytes >= maxMessageBytes,
                "maxBufferedBytes=" + maxBufferedBytes + " (at least maxMessageBytes=" + maxMessageBytes + ")");
        require(maxPendingOutputBytes >= 1, "maxPendingOutputBytes=" + maxPendingOutputBytes + " (at least 1)");
        require(closeGrace != null && !closeGrace.isNegative(), "closeGrace=" + closeGrace + " (zero or more)");
    }

    /** 16 clients, 1 MiB per message, 4 MiB of unfinished messages in all, 1 MiB of output per client, 1 s to flush on close. */
    public static QmpLimits defaults() {
        return new QmpLimits(16, DEFAULT_MAX_MESSAGE_BYTES, 4L << 20, 1 << 20, Duration.ofSeconds(1));
    }

    private static void require(boolean holds, String what) {
        if (!holds) {
            throw new IllegalArgumentException("QMP limit out of range: " + what);
        }
    }
}
