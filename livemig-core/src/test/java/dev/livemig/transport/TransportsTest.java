package dev.livemig.transport;

import dev.livemig.testing.Await;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.format.ReturnPathCodec;
import dev.livemig.wire.format.ReturnPathMessage;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** Every transport carries bytes end to end over loopback, pipes and files; sockets carry the return path too. */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class TransportsTest {
    private static final long WAIT_SECONDS = Await.DEADLINE.toSeconds();
    private final ExecutorService peer = Executors.newVirtualThreadPerTaskExecutor();

    @TempDir
    Path dir;

    @AfterEach
    void stopPeer() {
        peer.shutdownNow();
    }

    private static byte[] payload(int n) {
        byte[] b = new byte[n];
        new Random(n).nextBytes(b);
        return b;
    }

    private static <T> T await(Future<T> f) throws Exception {
        return f.get(WAIT_SECONDS, TimeUnit.SECONDS);
    }

    /** Reads until the peer ends its direction. */
    private static byte[] readToEnd(MigrationChannel c) throws IOException {
        var out = new java.io.ByteArrayOutputStream();
        ByteBuffer buf = ByteBuffer.allocate(8192);
        while (c.read(buf.clear()) >= 0) {
            out.write(buf.array(), 0, buf.position());
        }
        return out.toByteArray();
    }

    /**
     * The source sends a stream and half-closes; the destination reads it to EOF, then answers on the return
     * path (PONG, SHUT) and closes; the source reads the answers.
     */
    private void mainStreamAndReturnPath(MigrationUri listenOn) throws Exception {
        byte[] stream = payload(3 << 20); // larger than socket buffers: both sides must really stream
        try (IncomingListener listener = Transports.listen(listenOn)) {
            Future<byte[]> destination = peer.submit(() -> {
                try (MigrationChannel in = listener.accept()) {
                    assertTrue(in.isBidirectional());
                    byte[] got = readToEnd(in);
                    var rp = new StreamWriter(in);
                    ReturnPathCodec.write(rp, new ReturnPathMessage.Pong(1));
                    ReturnPathCodec.write(rp, new ReturnPathMessage.Shut(0));
                    rp.flush();
                    return got;
                }
            });
            try (MigrationChannel out = Transports.connect(listener.address())) {
                assertTrue(out.isBidirectional());
                var w = new StreamWriter(out);
                w.bytes(stream);
                w.flush();
                out.shutdownOutput();
                var rp = new StreamReader(out);
                assertEquals(new ReturnPathMessage.Pong(1), ReturnPathCodec.read(rp));
                assertEquals(new ReturnPathMessage.Shut(0), ReturnPathCodec.read(rp));
                assertTrue(rp.atEnd(), "the destination closed after SHUT");
            }
            assertArrayEquals(stream, await(destination));
        }
    }

    @Test
    void tcpOnIpv4LoopbackCarriesStreamAndReturnPath() throws Exception {
        try (IncomingListener l = Transports.listen(MigrationUri.parse("tcp:127.0.0.1:0"))) {
            var a = (MigrationUri.Tcp) l.address();
            assertEquals("127.0.0.1", a.host());
            assertNotEquals(0, a.port(), "address() reports the port the system picked");
        }
        mainStreamAndReturnPath(MigrationUri.parse("tcp:127.0.0.1:0"));
    }

    @Test
    void tcpOnIpv6LoopbackCarriesStreamAndReturnPath() throws Exception {
        // the test needs IPv6 loopback; a host without ::1 fails here rather than skipping
        assertTrue(InetAddress.getByName("::1").isLoopbackAddress());
        mainStreamAndReturnPath(MigrationUri.parse("tcp:[::1]:0"));
    }

    @Test
    void unixSocketCarriesStreamAndReturnPathAndIsRemovedOnClose() throws Exception {
        Path sock = dir.resolve("mig.sock");
        mainStreamAndReturnPath(MigrationUri.parse("unix:" + sock));
        assertFalse(Files.exists(sock), "closing the listener removes its socket file");
    }

    @Test
    void unixListenReplacesAStaleSocketFile() throws Exception {
        Path sock = dir.resolve("stale.sock");
        Transports.listen(MigrationUri.parse("unix:" + sock)).close();
        Files.createFile(sock);
        mainStreamAndReturnPath(MigrationUri.parse("unix:" + sock));
    }

    @Test
    void shutdownOutputMakesThePeerSeeEndOfStreamWhileItCanStillReply() throws Exception {
        try (IncomingListener listener = Transports.listen(MigrationUri.parse("tcp:127.0.0.1:0"))) {
            Future<Integer> destination = peer.submit(() -> {
                try (MigrationChannel in = listener.accept()) {
                    int first = in.read(ByteBuffer.allocate(1));
                    int eof = in.read(ByteBuffer.allocate(1));
                    in.write(ByteBuffer.wrap(new byte[] {42}));
                    return first * 1000 + eof;
                }
            });
            try (MigrationChannel out = Transports.connect(listener.address())) {
                out.write(ByteBuffer.wrap(new byte[] {7}));
                out.shutdownOutput();
                assertThrows(IOException.class, () -> out.write(ByteBuffer.wrap(new byte[] {8})));
                ByteBuffer reply = ByteBuffer.allocate(1);
                assertEquals(1, out.read(reply));
                assertEquals(42, reply.get(0));
            }
            assertEquals(1000 - 1, await(destination), "one byte, then EOF (-1)");
        }
    }

    @Test
    void connectingToAClosedPortNamesTheUri() throws Exception {
        int port;
        try (var s = new ServerSocket()) {
            s.bind(new InetSocketAddress("127.0.0.1", 0));
            port = s.getLocalPort();
        }
        var e = assertThrows(MigrationException.class, () -> Transports.connect(MigrationUri.parse("tcp:127.0.0.1:" + port)));
        assertTrue(e.getMessage().contains("tcp:127.0.0.1:" + port), e.getMessage());
        var u = assertThrows(MigrationException.class, () -> Transports.connect(MigrationUri.parse("unix:" + dir.resolve("none.sock"))));
        assertTrue(u.getMessage().contains("none.sock"), u.getMessage());
    }

    @Test
    void anUnknownHostIsAMigrationException() {
        var e = assertThrows(MigrationException.class, () -> Transports.connect(MigrationUri.parse("tcp:no-such-host.invalid:4444")));
        assertTrue(e.getMessage().contains("tcp:no-such-host.invalid:4444"), e.getMessage());
        assertThrows(MigrationException.class, () -> Transports.listen(MigrationUri.parse("tcp:no-such-host.invalid:0")));
    }

    @Test
    void listeningTwiceOnOnePortFails() throws Exception {
        try (IncomingListener l = Transports.listen(MigrationUri.parse("tcp:127.0.0.1:0"))) {
            var e = assertThrows(MigrationException.class, () -> Transports.listen(l.address()));
            assertTrue(e.getMessage().contains("cannot listen on " + l.address()), e.getMessage());
        }
    }

    @Test
    void closingAListenerUnblocksAccept() throws Exception {
        IncomingListener l = Transports.listen(MigrationUri.parse("tcp:127.0.0.1:0"));
        var acceptor = new java.util.concurrent.CompletableFuture<Thread>();
        Future<MigrationChannel> accepting = peer.submit(() -> {
            acceptor.complete(Thread.currentThread());
            return l.accept();
        });
        Thread t = acceptor.get(WAIT_SECONDS, TimeUnit.SECONDS);
        Await.until("accept() to block", () -> blockedInAccept(t), () -> t.getState() + " " + Arrays.toString(t.getStackTrace()));
        l.close();
        var e = assertThrows(java.util.concurrent.ExecutionException.class, () -> await(accepting));
        assertInstanceOf(MigrationException.class, e.getCause());
        assertTrue(e.getCause().getMessage().contains("accept failed on " + l.address()), e.getCause().getMessage());
    }

    /** Parked inside the JDK's accept: closing the listener now must wake it. */
    private static boolean blockedInAccept(Thread t) {
        return t.getState() == Thread.State.WAITING && Arrays.stream(t.getStackTrace())
                .anyMatch(f -> f.getClassName().startsWith("sun.nio.ch.") && f.getMethodName().contains("accept"));
    }

    @Test
    void execOutgoingFeedsTheCommandsStdin() throws Exception {
        Path file = dir.resolve("out.mig");
        byte[] stream = payload(1 << 20);
        try (MigrationChannel out = Transports.connect(MigrationUri.parse("exec:cat > '" + file + "'"))) {
            var w = new StreamWriter(out);
            w.bytes(stream);
            w.flush();
        }
        assertArrayEquals(stream, Files.readAllBytes(file), "close waited for the command to finish");
    }

    @Test
    void execIncomingReadsTheCommandsStdout() throws Exception {
        Path file = dir.resolve("in.mig");
        byte[] stream = payload(1 << 20);
        Files.write(file, stream);
        try (IncomingListener l = Transports.listen(MigrationUri.parse("exec:cat '" + file + "'"));
             MigrationChannel in = l.accept()) {
            assertArrayEquals(stream, readToEnd(in));
            var again = assertThrows(MigrationException.class, l::accept);
            assertTrue(again.getMessage().contains("single channel"), again.getMessage());
        }
    }

    @Test
    void execCarriesTheReturnPathOnTheCommandsStdout() throws Exception {
        // the source's side: stdin is the stream, stdout the return path (cat echoes one into the other)
        byte[] stream = payload(200_000);
        try (MigrationChannel out = Transports.connect(MigrationUri.parse("exec:cat"))) {
            assertTrue(out.isBidirectional());
            Future<byte[]> back = peer.submit(() -> readToEnd(out));
            var w = new StreamWriter(out);
            w.bytes(stream);
            w.flush();
            out.shutdownOutput();
            assertArrayEquals(stream, await(back));
        }
    }

    @Test
    void execIncomingWritesTheReturnPathToTheCommandsStdin() throws Exception {
        Path file = dir.resolve("rp.out");
        try (IncomingListener l = Transports.listen(MigrationUri.parse("exec:cat > '" + file + "'"));
             MigrationChannel in = l.accept()) {
            var rp = new StreamWriter(in);
            ReturnPathCodec.write(rp, new ReturnPathMessage.Shut(0));
            rp.flush();
            in.shutdownOutput(); // cat ends at the end of its input; only then does its stdout end
            assertEquals(-1, in.read(ByteBuffer.allocate(1)), "the command wrote nothing on stdout");
        }
        assertArrayEquals(java.util.HexFormat.of().parseHex("0001000400000000"), Files.readAllBytes(file));
    }

    @Test
    void execExitingNonZeroReportsItsStatusOnClose() throws Exception {
        MigrationChannel out = Transports.connect(MigrationUri.parse("exec:cat > /dev/null; exit 3"));
        out.write(ByteBuffer.wrap(new byte[] {1, 2, 3}));
        var e = assertThrows(IOException.class, out::close);
        assertTrue(e.getMessage().contains("status 3"), e.getMessage());
    }

    @Test
    void execExitingNonZeroReportsItsStatusWhenWritingFails() throws Exception {
        try (MigrationChannel out = Transports.connect(MigrationUri.parse("exec:exit 5"))) {
            var w = new StreamWriter(out);
            var e = assertThrows(MigrationException.class, () -> {
                for (int i = 0; i < 64; i++) { // the pipe buffer hides the first writes
                    w.bytes(new byte[64 << 10]);
                    w.flush();
                }
            });
            assertTrue(e.getMessage().contains("status 5"), e.getMessage());
        } catch (IOException closing) {
            assertTrue(closing.getMessage().contains("status 5"), closing.getMessage());
        }
    }

    @Test
    void execIncomingThatFailsIsNotACleanEndOfStream() throws Exception {
        try (IncomingListener l = Transports.listen(MigrationUri.parse("exec:printf 'QE'; exit 4"))) {
            MigrationChannel in = l.accept();
            var r = new StreamReader(in);
            var e = assertThrows(MigrationException.class, r::be32);
            assertTrue(e.getMessage().contains("command exited with status 4"), e.getMessage());
            assertThrows(IOException.class, in::close);
        }
    }

    @Test
    void fileWritesAtTheOffsetAndReadsFromIt() throws Exception {
        Path file = dir.resolve("vm.mig");
        Files.write(file, payload(64)); // longer than the offset: the tail goes, the head stays
        byte[] head = Arrays.copyOf(Files.readAllBytes(file), 16);
        byte[] stream = payload(100_000);
        try (MigrationChannel out = Transports.connect(MigrationUri.parse("file:" + file + ",offset=0x10"))) {
            assertFalse(out.isBidirectional());
            var readBack = assertThrows(IOException.class, () -> out.read(ByteBuffer.allocate(1)));
            assertTrue(readBack.getMessage().contains("no return path"), readBack.getMessage());
            var w = new StreamWriter(out);
            w.bytes(stream);
            w.flush();
        }
        byte[] onDisk = Files.readAllBytes(file);
        assertEquals(16 + stream.length, onDisk.length);
        assertArrayEquals(head, Arrays.copyOf(onDisk, 16));
        assertArrayEquals(stream, Arrays.copyOfRange(onDisk, 16, onDisk.length));
        try (IncomingListener l = Transports.listen(MigrationUri.parse("file:" + file + ",offset=16"));
             MigrationChannel in = l.accept()) {
            assertArrayEquals(stream, readToEnd(in));
            assertThrows(IOException.class, () -> in.write(ByteBuffer.wrap(new byte[1])));
        }
    }

    @Test
    void aNewFileIsCreatedOwnerOnly() throws Exception {
        Path file = dir.resolve("new.mig");
        try (MigrationChannel out = Transports.connect(MigrationUri.parse("file:" + file + ",offset=8"))) {
            out.write(ByteBuffer.wrap(new byte[] {1}));
        }
        assertEquals(9, Files.size(file), "a new file is extended to the offset");
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
    }

    @Test
    void aMissingIncomingFileNamesTheUri() throws Exception {
        try (IncomingListener l = Transports.listen(MigrationUri.parse("file:" + dir.resolve("absent.mig")))) {
            var e = assertThrows(MigrationException.class, l::accept);
            assertTrue(e.getMessage().contains("cannot open file:" + dir.resolve("absent.mig")), e.getMessage());
        }
    }
}
