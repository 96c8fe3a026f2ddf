package dev.livemig.cli;

import dev.livemig.transport.HandshakeGate;
import dev.livemig.wire.MigrationException;
import picocli.CommandLine.Option;

/** {@code --handshake-timeout MS}: how long a listener waits for a connection's first bytes before dropping it. */
final class HandshakeTimeoutOption {
    @Option(names = "--handshake-timeout", paramLabel = "MS", defaultValue = "10000",
            description = "Drop a connection that has not sent its first 8 bytes within this time, and keep listening "
                    + "(default ${DEFAULT-VALUE}).")
    long handshakeTimeoutMs;

    HandshakeGate gate() throws MigrationException {
        if (handshakeTimeoutMs <= 0) {
            throw new MigrationException("--handshake-timeout must be a positive number of milliseconds: " + handshakeTimeoutMs);
        }
        return new HandshakeGate(java.time.Duration.ofMillis(handshakeTimeoutMs));
    }
}
