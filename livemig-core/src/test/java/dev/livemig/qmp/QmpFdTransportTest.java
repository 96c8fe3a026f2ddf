package dev.livemig.qmp;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParser;
import dev.livemig.json.JsonWriter;
import dev.livemig.linux.MemoryFile;
import dev.livemig.linux.SocketDescriptor;
import dev.livemig.linux.UnixSocket;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RunState;
import dev.livemig.migration.IncomingMigration;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.testing.Await;
import dev.livemig.transport.MigrationUri;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * QEMU's fd transport as management software drives it: the client connects a socket to the destination, passes it
 * to the source's QMP with {@code getfd} (SCM_RIGHTS on the QMP unix socket), and migrates with {@code fd:NAME}.
 */
class QmpFdTransportTest {
    private static final long RAM = 8 << 20;

    @TempDir
    Path dir;

    @Test
    void migrateOverASocketTheClientPassedWithGetfd() throws Exception {
        Path main = dir.resolve("main.sock");
        try (Machine source = Machine.builder("t").ram("ram", RAM).initialState(RunState.RUNNING).build();
             Machine dest = Machine.builder("t").ram("ram", RAM).build();
             QmpServer server = QmpServer.start(source, dir.resolve("qmp.sock"), null);
             RawQmp qmp = new RawQmp(UnixSocket.connect(dir.resolve("qmp.sock")))) {
            source.ramBlock("ram").orElseThrow().memory().set(ValueLayout.JAVA_LONG, 4096 * 7, 0x7e57fdL);
            IncomingMigration incoming = dev.livemig.testing.Controllers.listen(dest, MigrationConfig.defaults(),
                    MigrationUri.parse("unix:" + main), true);
            try (SocketChannel toDestination = SocketChannel.open(UnixDomainSocketAddress.of(main))) {
                qmp.passing(new SocketDescriptor(toDestination));
                assertEquals(Json.object().build(), qmp.execute("getfd", Json.object().put("fdname", "mig").build()));
            } // the source holds its own descriptor for the socket now
            assertEquals(Json.object().build(), qmp.execute("migrate", Json.object().put("uri", "fd:mig").build()));
            assertEquals(MigrationStatus.COMPLETED, incoming.awaitFinished(60, TimeUnit.SECONDS), String.valueOf(incoming.error()));
            Await.until("the source to complete", () -> qmp.execute("query-migrate", Json.object().build())
                    .asObject().get("status").map(Json::asString).orElse("").equals("completed"), () -> "");
            MemorySegment got = dest.ramBlock("ram").orElseThrow().memory();
            assertEquals(-1, got.mismatch(source.ramBlock("ram").orElseThrow().memory()), "RAM went through the passed socket");
            assertEquals("File descriptor named 'mig' not found", qmp.error("closefd", Json.object().put("fdname", "mig").build()),
                    "migrate took it out of the list");
        }
    }

    /** Both ends over fd: as a tunnelling manager does it: the two ends of one connection, one passed to each side. */
    @Test
    void bothEndsTakeTheirEndOfOneConnectionFromTheirQmpClient() throws Exception {
        try (Machine source = Machine.builder("t").ram("ram", RAM).initialState(RunState.RUNNING).build();
             Machine dest = Machine.builder("t").ram("ram", RAM).build();
             QmpServer sourceServer = QmpServer.start(source, dir.resolve("source.qmp"), null);
             QmpServer destServer = QmpServer.builder(dest).unix(dir.resolve("dest.qmp")).incoming(null, true).start();
             RawQmp sourceQmp = new RawQmp(UnixSocket.connect(dir.resolve("source.qmp")));
             RawQmp destQmp = new RawQmp(UnixSocket.connect(dir.resolve("dest.qmp")));
             var pairing = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            source.ramBlock("ram").orElseThrow().memory().set(ValueLayout.JAVA_LONG, 4096 * 9, 0xfdfdL);
            pairing.bind(UnixDomainSocketAddress.of(dir.resolve("pair.sock")));
            try (SocketChannel one = SocketChannel.open(UnixDomainSocketAddress.of(dir.resolve("pair.sock")));
                 SocketChannel other = pairing.accept()) {
                sourceQmp.passing(new SocketDescriptor(one));
                assertEquals(Json.object().build(), sourceQmp.execute("getfd", Json.object().put("fdname", "out").build()));
                destQmp.passing(new SocketDescriptor(other));
                assertEquals(Json.object().build(), destQmp.execute("getfd", Json.object().put("fdname", "in").build()));
            }
            assertEquals("File descriptor named 'nope' has not been found",
                    destQmp.error("migrate-incoming", Json.object().put("uri", "fd:nope").build()));
            assertEquals(Json.object().build(), destQmp.execute("migrate-incoming", Json.object().put("uri", "fd:in").build()),
                    "a name not found leaves migrate-incoming possible");
            assertEquals(Json.object().build(), sourceQmp.execute("migrate", Json.object().put("uri", "fd:out").build()));
            IncomingMigration incoming = destServer.incomingStarted().toCompletableFuture().get(20, TimeUnit.SECONDS);
            assertEquals(MigrationStatus.COMPLETED, incoming.awaitFinished(60, TimeUnit.SECONDS), String.valueOf(incoming.error()));
            assertEquals(0xfdfdL, dest.ramBlock("ram").orElseThrow().memory().get(ValueLayout.JAVA_LONG, 4096 * 9));
        }
    }

    @Test
    void getfdAndClosefdRefuseAsQemuDoes() throws Exception {
        try (Machine source = Machine.builder("t").ram("ram", RAM).initialState(RunState.RUNNING).build();
             QmpServer server = QmpServer.start(source, dir.resolve("qmp.sock"), null);
             RawQmp qmp = new RawQmp(UnixSocket.connect(dir.resolve("qmp.sock")));
             MemoryFile memory = MemoryFile.memfd("not-a-socket", 4096)) {
            assertEquals("No file descriptor supplied via SCM_RIGHTS", qmp.error("getfd", Json.object().put("fdname", "x").build()));
            qmp.passing(memory);
            assertEquals("Parameter 'fdname' expects a name not starting with a digit",
                    qmp.error("getfd", Json.object().put("fdname", "1x").build()));
            assertEquals("No file descriptor supplied via SCM_RIGHTS", qmp.error("getfd", Json.object().put("fdname", "x").build()),
                    "the refused getfd took the descriptor");
            assertEquals("File descriptor named 'x' not found", qmp.error("closefd", Json.object().put("fdname", "x").build()));
            qmp.passing(memory);
            assertEquals(Json.object().build(), qmp.execute("getfd", Json.object().put("fdname", "mem").build()));
            String refused = qmp.error("migrate", Json.object().put("uri", "fd:mem").build());
            assertTrue(refused.startsWith("fd:mem: the descriptor passed as fd:mem: getsockopt"), refused);
            assertEquals("running", qmp.execute("query-status", Json.object().build()).asObject().string("status"));
            qmp.passing(memory);
            assertEquals(Json.object().build(), qmp.execute("getfd", Json.object().put("fdname", "again").build()));
            assertEquals(Json.object().build(), qmp.execute("closefd", Json.object().put("fdname", "again").build()));
            assertEquals("File descriptor named 'nowhere' has not been found",
                    qmp.error("migrate", Json.object().put("uri", "fd:nowhere").build()));
        }
    }

    /** A QMP client on a livemig unix socket that can pass descriptors, as libvirt does. */
    private static final class RawQmp implements AutoCloseable {
        private final UnixSocket socket;

        RawQmp(UnixSocket socket) throws Exception {
            this.socket = socket;
            nextReply(); // the greeting
            execute("qmp_capabilities", Json.object().build());
        }

        /** Sends {@code descriptor} with a space ahead of the next command (QMP skips it; the descriptor waits). */
        void passing(dev.livemig.linux.PassableDescriptor descriptor) throws Exception {
            socket.sendDescriptor(descriptor, (byte) ' ');
        }

        Json execute(String command, Json.Obj arguments) throws java.io.IOException {
            Json.Obj reply = send(command, arguments);
            return reply.get("return").orElseThrow(() -> new AssertionError(command + ": " + reply));
        }

        String error(String command, Json.Obj arguments) throws java.io.IOException {
            Json.Obj reply = send(command, arguments);
            return reply.get("error").orElseThrow(() -> new AssertionError(command + " succeeded: " + reply)).asObject().string("desc");
        }

        private Json.Obj send(String command, Json.Obj arguments) throws java.io.IOException {
            socket.write((JsonWriter.compact(Json.object().put("execute", command).put("arguments", arguments).build()) + "\n")
                    .getBytes(StandardCharsets.UTF_8));
            return nextReply();
        }

        /** The next line that is no event. */
        private Json.Obj nextReply() throws java.io.IOException {
            while (true) {
                var line = new ByteArrayOutputStream();
                byte[] one = new byte[1];
                do {
                    socket.readFully(one);
                    line.write(one[0]);
                } while (one[0] != '\n');
                try {
                    Json.Obj message = JsonParser.parse(line.toString(StandardCharsets.UTF_8).strip()).asObject();
                    if (message.get("event").isEmpty()) {
                        return message;
                    }
                } catch (dev.livemig.json.JsonParseException e) {
                    throw new java.io.IOException("not QMP: " + line, e);
                }
            }
        }

        @Override
        public void close() {
            socket.close();
        }
    }
}
