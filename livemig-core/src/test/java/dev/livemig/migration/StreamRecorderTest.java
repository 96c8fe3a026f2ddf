package dev.livemig.migration;

import dev.livemig.savevm.RamCeiling;
import dev.livemig.savevm.Snapshots;
import dev.livemig.testing.Await;
import dev.livemig.testing.CraftedStreams;
import dev.livemig.transport.HandshakeGate;
import dev.livemig.transport.MigrationUri;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.format.StreamFraming;
import dev.livemig.wire.StreamWriter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** {@code livemig record} facing hostile sources: what a stream declares is not what the recorder allocates. */
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class StreamRecorderTest {
    private final ExecutorService peers = Executors.newVirtualThreadPerTaskExecutor();

    @TempDir
    Path dir;

    @AfterEach
    void stopPeers() {
        peers.shutdownNow();
    }

    /** Records what one source sends to a recorder listening on a loopback port. */
    private Future<StreamRecorder.Result> record(StreamRecorder recorder, HandshakeGate gate, byte[] stream, boolean squatFirst)
            throws Exception {
        MigrationUri address = recorder.listen(MigrationUri.parse("tcp:127.0.0.1:0"), gate);
        var tcp = (MigrationUri.Tcp) address;
        var socket = new InetSocketAddress(tcp.host(), tcp.port());
        SocketChannel squatter = squatFirst ? SocketChannel.open(socket) : null;
        Future<StreamRecorder.Result> result = peers.submit(() -> recorder.record(dir.resolve("rec.snap")));
        peers.submit(() -> {
            try (SocketChannel s = SocketChannel.open(socket)) {
                ByteBuffer b = ByteBuffer.wrap(stream);
                while (b.hasRemaining()) {
                    s.write(b);
                }
                s.shutdownOutput();
                s.read(ByteBuffer.allocate(1)); // until the recorder is done with the connection
            } finally {
                if (squatter != null) {
                    squatter.close();
                }
            }
            return null;
        });
        return result;
    }

    private MigrationException refusal(Future<StreamRecorder.Result> result) throws Exception {
        var e = assertThrows(java.util.concurrent.ExecutionException.class,
                () -> result.get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS));
        return assertInstanceOf(MigrationException.class, e.getCause(), String.valueOf(e.getCause()));
    }

    @Test
    void aTebibyteBlockListIsRefusedNamingTheBlockTheSizeTheCeilingAndTheOffset() throws Exception {
        var recorder = new StreamRecorder(MigrationConfig.defaults(), new RamCeiling(1L << 30));
        var e = refusal(record(recorder, HandshakeGate.DEFAULT, CraftedStreams.ramDeclaring("pc.ram", CraftedStreams.TIB), false));
        String m = e.getMessage();
        assertTrue(m.startsWith("stream declares more RAM than the ceiling: block=pc.ram declared=1099511627776 (1.0 TiB)"), m);
        assertTrue(m.contains("ceiling=1073741824 (1.0 GiB)"), m);
        assertTrue(m.contains("(section=ram offset=0x"), m);
        assertFalse(Files.exists(dir.resolve("rec.snap")), "nothing recorded");
    }

    @Test
    void fourExbibytesAreRefusedUnderTheHostsOwnCeilingWithoutAnOutOfMemoryError() throws Exception {
        var recorder = new StreamRecorder(MigrationConfig.defaults());
        var e = refusal(record(recorder, HandshakeGate.DEFAULT, CraftedStreams.ramDeclaring("pc.ram", CraftedStreams.FOUR_EIB), false));
        assertTrue(e.getMessage().contains("declared=" + CraftedStreams.FOUR_EIB + " (4.0 EiB)"), e.getMessage());
        assertTrue(e.getMessage().contains("ceiling=" + RamCeiling.host().bytes()), e.getMessage());
    }

    @Test
    void anIterativeSectionsEscapeLadenIdstrIsEscapedInTheError() throws Exception {
        StreamWriter w = StreamWriter.inMemory();
        w.bytes(CraftedStreams.ramDeclaring("pc.ram", 4096));
        byte[] ram = w.toByteArray();
        // replace the EOF with a START of a non-RAM iterative section, which record refuses by name
        StreamWriter s = StreamWriter.inMemory();
        s.bytes(ram, 0, ram.length - 1);
        StreamFraming.writeSectionStart(s, false, 3, CraftedStreams.ESCAPE_IDSTR, 0, 1);
        var e = refusal(record(new StreamRecorder(MigrationConfig.defaults()), HandshakeGate.DEFAULT, s.toByteArray(), false));
        assertTrue(e.getMessage().contains("iterative section \\x1b[2J\\x1b[31mdev\\x0averified: ok\\x9b0m\\xff is not RAM"),
                e.getMessage());
        assertTrue(e.getMessage().chars().allMatch(c -> c >= 0x20 && c < 0x7f), e.getMessage());
    }

    @Test
    void aSilentConnectionIsDroppedByTheHandshakeGateAndTheSourceAfterItIsRecorded() throws Exception {
        var recorder = new StreamRecorder(MigrationConfig.defaults());
        byte[] stream = CraftedStreams.ramDeclaring("pc.ram", 2 * 4096);
        var result = record(recorder, new HandshakeGate(Duration.ofMillis(300)), stream, true)
                .get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS);
        assertEquals(List.of("pc.ram"), result.blocks());
        assertEquals(2, result.ramPages());
        var shape = Snapshots.shape(dir.resolve("rec.snap"));
        assertEquals(List.of(new Snapshots.Shape.Block("pc.ram", 2 * 4096)), shape.blocks());
    }
}
