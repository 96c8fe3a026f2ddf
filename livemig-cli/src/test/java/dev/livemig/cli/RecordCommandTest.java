package dev.livemig.cli;

import dev.livemig.json.JsonParser;
import dev.livemig.testing.Await;
import dev.livemig.testing.CraftedStreams;
import dev.livemig.transport.MigrationUri;
import dev.livemig.wire.format.MigrationCommand;
import dev.livemig.wire.format.ReturnPathCodec;
import dev.livemig.wire.format.ReturnPathMessage;
import dev.livemig.wire.format.StreamFraming;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** `livemig record` against hostile sources: --max-ram, --handshake-timeout, and errors that carry no raw escape. */
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class RecordCommandTest {
    private final ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();

    @TempDir
    Path dir;

    @AfterEach
    void stop() {
        threads.shutdownNow();
    }

    /** A record command running in this JVM, with what it printed so far. */
    private record Running(Future<Integer> status, StringWriter out, StringWriter err) {
        InetSocketAddress listening() throws Exception {
            String line = Await.value("the listening line", () -> out.toString().lines().findFirst().orElse(""),
                    l -> l.contains("listening"));
            var tcp = (MigrationUri.Tcp) MigrationUri.parse(JsonParser.parse(line).asObject().string("listening"));
            return new InetSocketAddress(tcp.host(), tcp.port());
        }

        CliRun finished() throws Exception {
            return new CliRun(status.get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS), out.toString(), err.toString());
        }
    }

    private Running start(String... options) {
        var out = new StringWriter();
        var err = new StringWriter();
        String[] args = new String[options.length + 3];
        args[0] = "record";
        args[1] = "tcp:127.0.0.1:0";
        args[2] = dir.resolve("rec.snap").toString();
        System.arraycopy(options, 0, args, 3, options.length);
        return new Running(threads.submit(() -> Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args)), out, err);
    }

    private static void send(InetSocketAddress to, byte[] stream) throws Exception {
        try (SocketChannel s = SocketChannel.open(to)) {
            ByteBuffer b = ByteBuffer.wrap(stream);
            while (b.hasRemaining()) {
                s.write(b);
            }
            s.shutdownOutput();
            s.read(ByteBuffer.allocate(1)); // until the recorder has closed its end
        }
    }

    @Test
    void aSourceAnnouncingMoreRamThanMaxRamIsRefusedWithTheBlockTheSizeAndTheCeiling() throws Exception {
        var run = start("--max-ram", "1G");
        send(run.listening(), CraftedStreams.ramDeclaring("pc.ram", CraftedStreams.TIB));
        String err = run.finished().err().strip();
        assertEquals(2, run.finished().status(), err);
        assertTrue(err.startsWith("livemig: stream declares more RAM than the ceiling: block=pc.ram declared=1099511627776 (1.0 TiB)"), err);
        assertTrue(err.contains("ceiling=1073741824 (1.0 GiB)") && err.contains("section=ram offset=0x"), err);
        assertFalse(Files.exists(dir.resolve("rec.snap")));
    }

    @Test
    void anEscapeLadenIdstrReachesStderrEscaped() throws Exception {
        var run = start();
        StreamWriter w = StreamWriter.inMemory();
        byte[] ram = CraftedStreams.ramDeclaring("pc.ram", 4096);
        w.bytes(ram, 0, ram.length - 1); // all but EOF
        StreamFraming.writeSectionStart(w, false, 3, CraftedStreams.ESCAPE_IDSTR, 0, 1);
        send(run.listening(), w.toByteArray());
        CliRun done = run.finished();
        assertEquals(2, done.status(), done.err());
        String err = done.err().strip();
        assertEquals(1, err.lines().count(), "one line, no line of the stream's own: " + err);
        assertEquals(-1, (done.out() + done.err()).indexOf('\u001b'), "no raw ESC byte: " + err);
        assertTrue(err.contains("iterative section \\x1b[2J\\x1b[31mdev\\x0averified: ok\\x9b0m\\xff is not RAM"), err);
    }

    @Test
    void aSilentConnectionIsDroppedAfterTheHandshakeTimeoutAndTheSourceIsRecorded() throws Exception {
        var run = start("--handshake-timeout", "300");
        InetSocketAddress at = run.listening();
        try (SocketChannel squatter = SocketChannel.open(at)) {
            send(at, CraftedStreams.ramDeclaring("pc.ram", 4096));
            CliRun done = run.finished();
            assertEquals(0, done.status(), done.err());
            assertTrue(done.out().contains("\"recorded\""), done.out());
            assertEquals(-1, squatter.read(ByteBuffer.allocate(1)), "the squatter was dropped");
        }
        assertTrue(Files.exists(dir.resolve("rec.snap")));
    }

    @Test
    void aHandshakeTimeoutOrMaxRamThatIsNotPositiveIsRefused() {
        assertEquals("livemig: --handshake-timeout must be a positive number of milliseconds: 0",
                CliRun.of("record", "tcp:127.0.0.1:0", dir.resolve("r.snap").toString(), "--handshake-timeout", "0").oneLineError());
        assertEquals("livemig: --max-ram must be a positive size: 0",
                CliRun.of("record", "tcp:127.0.0.1:0", dir.resolve("r.snap").toString(), "--max-ram", "0").oneLineError());
    }

    @Test
    void withReturnPathAndSwitchoverAckTheSourceIsAckedPongedAndShutOnceTheFileIsWritten() throws Exception {
        var run = start("--capability", "return-path", "--capability", "switchover-ack");
        byte[] stream = CraftedStreams.withReturnPath(new MigrationCommand.OpenReturnPath(), new MigrationCommand.Ping(7));
        var seen = new ArrayList<ReturnPathMessage>();
        try (SocketChannel s = SocketChannel.open(run.listening())) {
            ByteBuffer b = ByteBuffer.wrap(stream);
            while (b.hasRemaining()) {
                s.write(b);
            }
            var in = new StreamReader(s); // the sending side stays open, as QEMU's does until SHUT
            while (seen.isEmpty() || !(seen.getLast() instanceof ReturnPathMessage.Shut)) {
                seen.add(ReturnPathCodec.read(in));
            }
            assertTrue(Files.exists(dir.resolve("rec.snap")), "SHUT only once the recording exists");
        }
        assertEquals(List.of(new ReturnPathMessage.SwitchoverAck(), new ReturnPathMessage.Pong(7), new ReturnPathMessage.Shut(0)), seen);
        CliRun done = run.finished();
        assertEquals(0, done.status(), done.err());
        assertTrue(done.out().contains("\"ram-pages\": 2"), done.out());
    }

    @Test
    void switchoverAckWithoutReturnPathIsRefusedAsQemuRefusesIt() {
        assertEquals("livemig: Capability 'switchover-ack' requires capability 'return-path'",
                CliRun.of("record", "tcp:127.0.0.1:0", dir.resolve("r.snap").toString(), "--capability", "switchover-ack").oneLineError());
    }
}
