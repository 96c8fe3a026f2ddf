package dev.livemig.transport;

import dev.livemig.testing.Await;
import dev.livemig.wire.MigrationException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A destination is not held by whoever connects first: a connection must send its first bytes within the
 * handshake timeout or it is dropped, and the listener goes on to the real source, whose bytes arrive intact.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class HandshakeGateTest {
    private static final HandshakeGate SHORT = new HandshakeGate(Duration.ofMillis(300));
    private final ExecutorService peers = Executors.newVirtualThreadPerTaskExecutor();

    @TempDir
    Path dir;

    @AfterEach
    void stopPeers() {
        peers.shutdownNow();
    }

    @Test
    void aSilentConnectionIsDroppedAndTheSourceAfterItIsServedWithEveryByte() throws Exception {
        try (IncomingListener listener = Transports.listen(MigrationUri.parse("tcp:127.0.0.1:0"), SHORT);
             SocketChannel squatter = SocketChannel.open(socketAddress(listener))) {
            Future<MigrationChannel> accepted = peers.submit(listener::accept);
            byte[] stream = payload(1 << 20);
            peers.submit(() -> sendAndClose(socketAddress(listener), stream, false));

            try (MigrationChannel channel = accepted.get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS)) {
                assertArrayEquals(stream, readToEnd(channel));
            }
            assertEquals(-1, squatter.read(ByteBuffer.allocate(1)), "the squatter's connection is closed");
            assertEquals(1, listener.refusedConnections());
        }
    }

    @Test
    void aUnixSocketListenerDropsSilentConnectionsToo() throws Exception {
        MigrationUri uri = MigrationUri.parse("unix:" + dir.resolve("incoming.sock"));
        try (IncomingListener listener = Transports.listen(uri, SHORT);
             SocketChannel squatter = SocketChannel.open(socketAddress(listener))) {
            Future<MigrationChannel> accepted = peers.submit(listener::accept);
            byte[] stream = payload(100_000);
            peers.submit(() -> sendAndClose(socketAddress(listener), stream, false));
            try (MigrationChannel channel = accepted.get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS)) {
                assertArrayEquals(stream, readToEnd(channel));
            }
            assertEquals(-1, squatter.read(ByteBuffer.allocate(1)));
        }
    }

    @Test
    void aStreamShorterThanEightBytesIsPassedForTheLoaderToJudge() throws Exception {
        try (IncomingListener listener = Transports.listen(MigrationUri.parse("tcp:127.0.0.1:0"), HandshakeGate.DEFAULT)) {
            Future<MigrationChannel> accepted = peers.submit(listener::accept);
            sendAndClose(socketAddress(listener), new byte[] {'Q', 'E', 'V'}, false);
            try (MigrationChannel channel = accepted.get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS)) {
                assertArrayEquals(new byte[] {'Q', 'E', 'V'}, readToEnd(channel));
            }
            assertEquals(0, listener.refusedConnections());
        }
    }

    @Test
    void firstBytesDribbledOneAtATimeWithinTheTimeoutPass() throws Exception {
        try (IncomingListener listener = Transports.listen(MigrationUri.parse("tcp:127.0.0.1:0"), HandshakeGate.DEFAULT)) {
            Future<MigrationChannel> accepted = peers.submit(listener::accept);
            byte[] stream = payload(64);
            peers.submit(() -> sendAndClose(socketAddress(listener), stream, true));
            try (MigrationChannel channel = accepted.get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS)) {
                assertArrayEquals(stream, readToEnd(channel));
            }
            assertEquals(0, listener.refusedConnections());
        }
    }

    @Test
    void closingTheListenerWhileASquatterHoldsTheGateEndsTheWaitWithAnError() throws Exception {
        IncomingListener listener = Transports.listen(MigrationUri.parse("tcp:127.0.0.1:0"), new HandshakeGate(Duration.ofHours(1)));
        try (SocketChannel squatter = SocketChannel.open(socketAddress(listener))) {
            Future<MigrationChannel> accepted = peers.submit(listener::accept);
            listener.close();
            var e = assertThrows(java.util.concurrent.ExecutionException.class,
                    () -> accepted.get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS));
            assertInstanceOf(MigrationException.class, e.getCause());
            assertTrue(e.getCause().getMessage().startsWith("accept failed on tcp:127.0.0.1:"), e.getCause().getMessage());
            assertSquatterLetGo(squatter);
        }
    }

    /**
     * Closed by the gate (end of stream) or, when the listener closed before accept took the connection
     * from the backlog, reset by the kernel: either way it is no longer held.
     */
    private static void assertSquatterLetGo(SocketChannel squatter) {
        try {
            assertEquals(-1, squatter.read(ByteBuffer.allocate(1)), "the squatter is let go too");
        } catch (IOException reset) {
            assertTrue(String.valueOf(reset.getMessage()).contains("reset"), reset.toString());
        }
    }

    @Test
    void theTimeoutMustBePositive() {
        assertThrows(IllegalArgumentException.class, () -> new HandshakeGate(Duration.ZERO));
        assertThrows(IllegalArgumentException.class, () -> new HandshakeGate(Duration.ofMillis(-1)));
    }

    private static SocketAddress socketAddress(IncomingListener listener) {
        return switch (listener.address()) {
            case MigrationUri.Tcp(String host, int port) -> new InetSocketAddress(host, port);
            case MigrationUri.Unix(Path path) -> UnixDomainSocketAddress.of(path);
            default -> throw new AssertionError(listener.address());
        };
    }

    /** A peer sending {@code bytes}; {@code dribble} sends the first eight one at a time, a few ms apart. */
    private static Void sendAndClose(SocketAddress to, byte[] bytes, boolean dribble) throws Exception {
        try (SocketChannel s = to instanceof UnixDomainSocketAddress ? SocketChannel.open(StandardProtocolFamily.UNIX)
                : SocketChannel.open()) {
            s.connect(to);
            ByteBuffer b = ByteBuffer.wrap(bytes);
            if (dribble) {
                for (int i = 0; i < 8; i++) {
                    s.write(b.slice(i, 1));
                    Thread.sleep(20); // a slow sender, not a wait for a condition
                }
                b.position(8);
            }
            while (b.hasRemaining()) {
                s.write(b);
            }
        }
        return null;
    }

    private static byte[] readToEnd(MigrationChannel c) throws IOException {
        var out = new ByteArrayOutputStream();
        ByteBuffer buf = ByteBuffer.allocate(4096);
        while (c.read(buf.clear()) >= 0) {
            out.write(buf.array(), 0, buf.position());
        }
        return out.toByteArray();
    }

    private static byte[] payload(int n) {
        byte[] b = new byte[n];
        new Random(n).nextBytes(b);
        return b;
    }
}
