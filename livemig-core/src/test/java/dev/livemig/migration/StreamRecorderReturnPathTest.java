package dev.livemig.migration;

import dev.livemig.savevm.Snapshots;
import dev.livemig.testing.Await;
import dev.livemig.testing.CraftedStreams;
import dev.livemig.transport.MigrationUri;
import dev.livemig.wire.format.MigrationCommand;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.format.ReturnPathCodec;
import dev.livemig.wire.format.ReturnPathMessage;
import dev.livemig.wire.StreamReader;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code livemig record} facing a source with a return path, played by hand over loopback TCP as QEMU plays
 * it: the source sends its whole stream ({@link CraftedStreams#withReturnPath}), keeps the connection open and
 * reads the return path until SHUT. The device section holds a fake trailer the recorder must read past.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class StreamRecorderReturnPathTest {
    private static final int PING_VALUE = 0x2a;

    private final ExecutorService peers = Executors.newVirtualThreadPerTaskExecutor();

    @TempDir
    Path dir;

    @AfterEach
    void stopPeers() {
        peers.shutdownNow();
    }

    /** What the source saw on its return path, and how the recording ended. */
    private record Outcome(List<ReturnPathMessage> returnPath, Future<StreamRecorder.Result> recording) {
    }

    /**
     * Sends {@code stream} to a recorder with {@code capabilities} and reads the return path until SHUT or
     * until the recorder closes the connection, without ever closing the sending direction first.
     */
    private Outcome record(Set<String> capabilities, byte[] stream) throws Exception {
        var recorder = new StreamRecorder(new MigrationConfig(MigrationCapability.setOf(capabilities.toArray(String[]::new)), 300, MigrationConfig.DEFAULT_MAX_BANDWIDTH));
        var tcp = (MigrationUri.Tcp) recorder.listen(MigrationUri.parse("tcp:127.0.0.1:0"));
        Future<StreamRecorder.Result> recording = peers.submit(() -> recorder.record(dir.resolve("rec.snap")));
        Future<List<ReturnPathMessage>> source = peers.submit(() -> {
            try (SocketChannel s = SocketChannel.open(new InetSocketAddress(tcp.host(), tcp.port()))) {
                ByteBuffer b = ByteBuffer.wrap(stream);
                while (b.hasRemaining()) {
                    s.write(b);
                }
                var seen = new ArrayList<ReturnPathMessage>();
                var in = new StreamReader(s);
                try {
                    while (!in.atEnd()) {
                        ReturnPathMessage m = ReturnPathCodec.read(in);
                        seen.add(m);
                        if (m instanceof ReturnPathMessage.Shut) {
                            break;
                        }
                    }
                } catch (MigrationException e) {
                    // reset: a failing recorder closes with the rest of the stream unread
                }
                return seen;
            }
        });
        return new Outcome(source.get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS), recording);
    }

    @Test
    void aPingIsAnsweredWithItsValueAndShutZeroFollowsOnceTheFileIsWrittenWhileTheSourceStillHoldsItsConnection()
            throws Exception {
        byte[] stream = CraftedStreams.withReturnPath(new MigrationCommand.OpenReturnPath(), new MigrationCommand.Ping(PING_VALUE));
        var outcome = record(Set.of("return-path"), stream);

        assertEquals(List.of(new ReturnPathMessage.Pong(PING_VALUE), new ReturnPathMessage.Shut(0)), outcome.returnPath());
        var result = outcome.recording().get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS);
        assertEquals(2, result.ramPages());
        assertEquals(1, result.nonZeroPages());
        int tailFrom = indexOfDeviceSection(stream);
        assertEquals(stream.length - tailFrom, result.tailBytes(), "every byte from the device section to the trailer's end");
        Path file = dir.resolve("rec.snap");
        assertEquals(List.of(new Snapshots.Shape.Block("pc.ram", 2 * 4096)), Snapshots.shape(file).blocks());
        byte[] written = Files.readAllBytes(file);
        assertArrayEquals(java.util.Arrays.copyOfRange(stream, tailFrom, stream.length),
                java.util.Arrays.copyOfRange(written, written.length - (stream.length - tailFrom), written.length),
                "the device section, EOF and trailer kept verbatim");
    }

    @Test
    void withSwitchoverAckTheAckGoesOutAsTheReturnPathOpensBeforeThePong() throws Exception {
        var outcome = record(Set.of("return-path", "switchover-ack"),
                CraftedStreams.withReturnPath(new MigrationCommand.OpenReturnPath(), new MigrationCommand.Ping(PING_VALUE)));

        assertEquals(List.of(new ReturnPathMessage.SwitchoverAck(), new ReturnPathMessage.Pong(PING_VALUE),
                new ReturnPathMessage.Shut(0)), outcome.returnPath());
        assertEquals(2, outcome.recording().get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS).ramPages());
    }

    @Test
    void qemu10sSwitchoverStartIsAcceptedAndAnswersNothing() throws Exception {
        var outcome = record(Set.of("return-path"), CraftedStreams.withReturnPath(new MigrationCommand.OpenReturnPath(),
                new MigrationCommand.Ping(PING_VALUE), new MigrationCommand.SwitchoverStart()));

        assertEquals(List.of(new ReturnPathMessage.Pong(PING_VALUE), new ReturnPathMessage.Shut(0)), outcome.returnPath());
        assertEquals(2, outcome.recording().get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS).ramPages());
    }

    @Test
    void aCommandARecordingCannotServeFailsItByNameAndTheSourceGetsShutOne() throws Exception {
        var outcome = record(Set.of("return-path"), CraftedStreams.withReturnPath(new MigrationCommand.OpenReturnPath(), new MigrationCommand.EnableColo()));

        assertEquals(List.of(new ReturnPathMessage.Shut(1)), outcome.returnPath());
        var e = refusal(outcome.recording());
        assertTrue(e.getMessage().contains("command not supported in precopy by livemig yet: EnableColo"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("rec.snap")), "nothing recorded");
    }

    @Test
    void aPingWithoutAReturnPathFailsTheRecordingNamingItsValue() throws Exception {
        var outcome = record(Set.of(), CraftedStreams.withReturnPath(new MigrationCommand.Ping(PING_VALUE)));

        assertEquals(List.of(), outcome.returnPath(), "no return path to answer on: the connection just closes");
        var e = refusal(outcome.recording());
        assertTrue(e.getMessage().contains("PING without a return path: value=42"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("rec.snap")), "nothing recorded");
    }

    private static MigrationException refusal(Future<StreamRecorder.Result> result) {
        var e = assertThrows(ExecutionException.class, () -> result.get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS));
        return assertInstanceOf(MigrationException.class, e.getCause(), String.valueOf(e.getCause()));
    }

    /** Where the FULL section of "timer" starts in {@code stream}. */
    private static int indexOfDeviceSection(byte[] stream) {
        byte[] head = {4, 0, 0, 0, 3, 5, 't', 'i', 'm', 'e', 'r'};
        outer:
        for (int i = 0; i + head.length <= stream.length; i++) {
            for (int j = 0; j < head.length; j++) {
                if (stream[i + j] != head[j]) {
                    continue outer;
                }
            }
            return i;
        }
        throw new AssertionError("no timer section");
    }
}
