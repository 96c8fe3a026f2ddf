package dev.livemig.transport;

import java.io.IOException;
import java.time.Duration;

/**
 * What runs on an accepted connection before the migration reads from it, after the {@link HandshakeGate}'s first
 * bytes: TLS's server handshake. A connection that fails it is dropped like one that stays silent.
 */
@FunctionalInterface
public interface ChannelHandshake {
    /**
     * The channel the migration uses instead of {@code raw}, once the handshake completed within {@code timeout};
     * fails (and leaves {@code raw} to the caller to close) otherwise.
     */
    MigrationChannel accept(MigrationChannel raw, Duration timeout) throws IOException;
}
