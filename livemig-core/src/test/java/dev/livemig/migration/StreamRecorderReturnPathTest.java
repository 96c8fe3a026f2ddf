package dev.livemig.migration;

import dev.livemig.ram.RamFlags;
import dev.livemig.savevm.ConfigurationRecord;
import dev.livemig.savevm.Snapshots;
import dev.livemig.testing.Await;
import dev.livemig.testing.CraftedStreams;
import dev.livemig.transport.MigrationUri;
import dev.livemig.wire.MigrationCommand;
import dev.livemig.wire.MigrationCommands;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.ReturnPathCodec;
import dev.livemig.wire.ReturnPathMessage;
import dev.livemig.wire.StreamFraming;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
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
 * it: the source sends its whole stream, keeps the connection open and reads the return path until SHUT.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class StreamRecorderReturnPathTest {
    private static final int PING_VALUE = 0x2a;
    /** A device body that holds NULs, and a fake trailer ("{x}" is no JSON) the recorder must read past. */
    private static final byte[] DEVICE_BODY = {0, 0, 0x7d, 0, 0x06, 0, 0, 0, 3, '{', 'x', '}', 0, 1};
    private static final String VMDESC = "{\"page_size\": 4096, \"devices\": [{\"name\": \"timer\", \"instance_id\": 0}]}";

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
        var recorder = new StreamRecorder(new MigrationConfig(capabilities, 300, MigrationConfig.DEFAULT_MAX_BANDWIDTH));
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

    /** Header, configuration, {@code commands}, two RAM pages (one with data), a device section, EOF, trailer. */
    private static byte[] stream(MigrationCommand... commands) throws MigrationException {
        StreamWriter w = StreamWriter.inMemory();
        StreamFraming.writeHeader(w);
        ConfigurationRecord.write(w, CraftedStreams.MACHINE, List.of());
        for (MigrationCommand c : commands) {
            MigrationCommands.write(w, c);
        }
        StreamFraming.writeSectionStart(w, false, 2, RamFlags.IDSTR, 0, RamFlags.SECTION_VERSION);
        w.be64(2 * 4096 | RamFlags.MEM_SIZE);
        w.str8("pc.ram").be64(2 * 4096);
        w.be64(RamFlags.EOS);
        StreamFraming.writeFooter(w, 2);
        StreamFraming.writeSectionContinue(w, true, 2);
        w.be64(RamFlags.PAGE).str8("pc.ram");
        byte[] page = new byte[4096];
        java.util.Arrays.fill(page, (byte) 0x5a);
        w.bytes(page);
        w.be64(4096 | RamFlags.ZERO | RamFlags.CONTINUE).u8(0);
        w.be64(RamFlags.EOS);
        StreamFraming.writeFooter(w, 2);
        StreamFraming.writeSectionStart(w, true, 3, "timer", 0, 2);
        w.bytes(DEVICE_BODY);
        StreamFraming.writeFooter(w, 3);
        StreamFraming.writeEof(w);
        StreamFraming.writeVmDescription(w, VMDESC.getBytes(StandardCharsets.US_ASCII));
        return w.toByteArray();
    }

    @Test
    void aPingIsAnsweredWithItsValueAndShutZeroFollowsOnceTheFileIsWrittenWhileTheSourceStillHoldsItsConnection()
            throws Exception {
        byte[] stream = stream(new MigrationCommand.OpenReturnPath(), new MigrationCommand.Ping(PING_VALUE));
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
                stream(new MigrationCommand.OpenReturnPath(), new MigrationCommand.Ping(PING_VALUE)));

        assertEquals(List.of(new ReturnPathMessage.SwitchoverAck(), new ReturnPathMessage.Pong(PING_VALUE),
                new ReturnPathMessage.Shut(0)), outcome.returnPath());
        assertEquals(2, outcome.recording().get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS).ramPages());
    }

    @Test
    void qemu10sSwitchoverStartIsAcceptedAndAnswersNothing() throws Exception {
        var outcome = record(Set.of("return-path"), stream(new MigrationCommand.OpenReturnPath(),
                new MigrationCommand.Ping(PING_VALUE), new MigrationCommand.SwitchoverStart()));

        assertEquals(List.of(new ReturnPathMessage.Pong(PING_VALUE), new ReturnPathMessage.Shut(0)), outcome.returnPath());
        assertEquals(2, outcome.recording().get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS).ramPages());
    }

    @Test
    void aCommandARecordingCannotServeFailsItByNameAndTheSourceGetsShutOne() throws Exception {
        var outcome = record(Set.of("return-path"), stream(new MigrationCommand.OpenReturnPath(), new MigrationCommand.PostcopyListen()));

        assertEquals(List.of(new ReturnPathMessage.Shut(1)), outcome.returnPath());
        var e = refusal(outcome.recording());
        assertTrue(e.getMessage().contains("command not supported in precopy by livemig yet: PostcopyListen"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("rec.snap")), "nothing recorded");
    }

    @Test
    void aPingWithoutAReturnPathFailsTheRecordingNamingItsValue() throws Exception {
        var outcome = record(Set.of(), stream(new MigrationCommand.Ping(PING_VALUE)));

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
