package dev.livemig.transport;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.function.BooleanSupplier;

/**
 * What an accepted connection must do before it is taken as a migration channel: send its first
 * {@link #BYTES} bytes within {@code timeout}. Every channel of a QEMU migration opens with at least that
 * much at once (the stream header, or a multifd channel's initial packet), so a peer that connects and stays
 * silent is a squatter, not a source: it is dropped and the listener goes on accepting. Without the gate
 * whoever connects first holds a destination forever (QEMU has the same weakness).
 *
 * <p>The bytes read are handed to the channel to be read again; nothing of the stream is judged here: a peer
 * that ends its stream before eight bytes is passed, so that the loader reports the short stream.
 */
public record HandshakeGate(Duration timeout, ChannelHandshake handshake) {
    /** The stream header (magic, version) and a multifd initial packet both start with 8 bytes. */
    static final int BYTES = 8;
    /** Chosen to forgive a loaded host and a slow network, while freeing a squatted listener soon enough. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);
    /** The gate with {@link #DEFAULT_TIMEOUT}, which listeners use unless given another. */
    public static final HandshakeGate DEFAULT = new HandshakeGate(DEFAULT_TIMEOUT);

    /** How often a waiting gate looks whether its listener was closed. */
    private static final long POLL_MILLIS = 100;

    public HandshakeGate {
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("handshake timeout must be positive: " + timeout);
        }
    }

    /** A gate for plain channels: the first bytes are all it asks. */
    public HandshakeGate(Duration timeout) {
        this(timeout, null);
    }

    /** This gate, and then {@code handshake} (TLS) within the same timeout before a channel is handed out. */
    public HandshakeGate with(ChannelHandshake handshake) {
        return new HandshakeGate(timeout, handshake);
    }

    /** The channel a connection that passed becomes: itself, or what its handshake made of it. */
    MigrationChannel complete(MigrationChannel raw) throws IOException {
        return handshake == null ? raw : handshake.accept(raw, timeout);
    }

    /** Why a connection was not taken. */
    sealed interface Refusal {
        record Silent(long received) implements Refusal { }
        record ListenerClosed() implements Refusal { }
    }

    /** The first bytes, or why there are none; {@code socket} is left in blocking mode. */
    sealed interface Outcome {
        record Passed(ByteBuffer firstBytes) implements Outcome { }
        record Refused(Refusal why) implements Outcome { }
    }

    Outcome await(SocketChannel socket, BooleanSupplier listenerClosed) throws IOException {
        ByteBuffer first = ByteBuffer.allocate(BYTES);
        long deadline = System.nanoTime() + timeout.toNanos();
        socket.configureBlocking(false);
        try (Selector selector = Selector.open()) {
            socket.register(selector, SelectionKey.OP_READ);
            while (first.hasRemaining()) {
                if (listenerClosed.getAsBoolean()) {
                    return new Outcome.Refused(new Refusal.ListenerClosed());
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return new Outcome.Refused(new Refusal.Silent(first.position()));
                }
                selector.select(Math.max(1, Math.min(POLL_MILLIS, left / 1_000_000)));
                selector.selectedKeys().clear();
                if (socket.read(first) < 0) {
                    break;
                }
            }
        } // closing the selector deregisters the socket, so it may block again
        socket.configureBlocking(true);
        return new Outcome.Passed(first.flip());
    }

    /** The reason a refused connection is reported with. */
    String describe(Refusal why) {
        return switch (why) {
            case Refusal.Silent(long received) -> "sent " + received + " of its first " + BYTES
                    + " bytes within the handshake timeout of " + timeout.toMillis() + " ms";
            case Refusal.ListenerClosed() -> "the listener was closed";
        };
    }
}
