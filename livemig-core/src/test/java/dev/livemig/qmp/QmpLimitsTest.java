package dev.livemig.qmp;

import dev.livemig.json.Json;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RunState;
import dev.livemig.testing.Await;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** What a QMP server takes on from its clients, and how it refuses the rest while serving the others. */
class QmpLimitsTest {
    private static final Duration WAIT = Await.DEADLINE;

    @TempDir
    Path dir;

    private final Machine machine = Machine.builder("t").ram("ram", 1 << 20).initialState(RunState.RUNNING).build();
    private QmpServer server;
    private final List<AutoCloseable> clients = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : clients) {
            c.close();
        }
        if (server != null) {
            server.close();
        }
        machine.close();
    }

    private void serve(QmpLimits limits) throws Exception {
        server = QmpServer.builder(machine).unix(dir.resolve("qmp.sock")).limits(limits).start();
    }

    private UnixDomainSocketAddress address() {
        return UnixDomainSocketAddress.of(dir.resolve("qmp.sock"));
    }

    private RawQmp raw() throws Exception {
        var c = new RawQmp(address());
        clients.add(c);
        return c;
    }

    private SocketChannel lazy() throws Exception {
        var c = SocketChannel.open(address());
        clients.add(c);
        return c;
    }

    @Test
    void limitsOutOfRangeAreRefusedNamingTheLimit() {
        var e = assertThrows(IllegalArgumentException.class, () -> new QmpLimits(0, 1 << 20, 4 << 20, 1 << 20, Duration.ZERO));
        assertEquals("QMP limit out of range: maxClients=0 (at least 1)", e.getMessage());
        var small = assertThrows(IllegalArgumentException.class, () -> new QmpLimits(4, 1 << 20, 1 << 10, 1 << 20, Duration.ZERO));
        assertEquals("QMP limit out of range: maxBufferedBytes=1024 (at least maxMessageBytes=1048576)", small.getMessage());
    }

    @Test
    void clientsBeyondTheLimitAreRefusedWithAQmpErrorAndTheOthersAreServed() throws Exception {
        serve(new QmpLimits(3, 1 << 20, 4 << 20, 1 << 20, Duration.ofSeconds(1)));
        List<RawQmp> served = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            served.add(raw().negotiated());
        }
        var extra = raw();
        Json.Obj refusal = extra.message();
        assertEquals("too many QMP clients: limit=3", RawQmp.desc(refusal), "an error where the greeting would be");
        assertEquals(RawQmp.EOF, extra.line());
        assertTrue(served.getFirst().ask("{\"execute\": \"query-status\"}").has("return"), "the others are served");

        served.getLast().close();
        Await.value("the server to let the client go", server::clients, n -> n == 2);
        assertTrue(raw().negotiated().ask("{\"execute\": \"query-status\"}").has("return"), "a freed place is taken again");
    }

    @Test
    void unfinishedMessagesOfManyClientsStayWithinTheBufferBudget() throws Exception {
        int clientCount = 40;
        long message = 64 << 10;
        long budget = 4 * message;
        serve(new QmpLimits(64, (int) message, budget, 1 << 20, Duration.ofSeconds(1)));
        List<RawQmp> all = new ArrayList<>();
        for (int i = 0; i < clientCount; i++) {
            RawQmp c = raw();
            c.message(); // the greeting
            c.send("{\"execute\": \"qmp_capabilities\", \"id\": \"" + "x".repeat(60 << 10)); // and never the end of it
            all.add(c);
        }
        long[] mostSeen = new long[1];
        // each client still connected holds its whole message (a buffer grown to 64 KiB); the rest were refused
        Await.until("every client to be refused or to hold its whole unfinished message", () -> {
            long held = server.bufferedBytes();
            mostSeen[0] = Math.max(mostSeen[0], held);
            return held == server.clients() * message;
        }, () -> "clients=" + server.clients() + " buffered=" + server.bufferedBytes());
        int holding = server.clients();
        assertTrue(holding >= 1 && holding <= budget / message, "clients holding a message: " + holding);
        assertTrue(mostSeen[0] <= budget, "buffered bytes never above the budget: " + mostSeen[0]);

        // the end of every message: a holder is answered, a refused client was told why before it was closed
        int refused = 0;
        for (RawQmp c : all) {
            try {
                c.send("\"}\n");
            } catch (IOException closedByTheServer) {
                // refused: its answer is already on its way
            }
            Json.Obj first = c.message();
            if (first.has("error")) {
                assertTrue(RawQmp.desc(first).startsWith("JSON message refused: this QMP server holds at most " + budget + " bytes"),
                        RawQmp.desc(first));
                assertEquals(RawQmp.EOF, c.line());
                refused++;
            } else {
                assertTrue(first.has("return"), first.toString());
            }
        }
        assertEquals(clientCount - holding, refused);
        assertEquals(0, server.bufferedBytes(), "finished messages hold nothing");
        assertTrue(raw().negotiated().ask("{\"execute\": \"query-status\"}").has("return"), "still serving");
    }

    @Test
    void aClientLeavingMidMessageGivesItsBytesBack() throws Exception {
        serve(QmpLimits.defaults());
        var c = raw().negotiated();
        c.send("{\"execute\": \"query-status\", \"id\": \"" + "y".repeat(30_000));
        Await.value("the unfinished message to be held", server::bufferedBytes, b -> b == 32 << 10);
        c.close();
        Await.value("its bytes to be given back", server::bufferedBytes, b -> b == 0);
    }

    @Test
    void aClientThatStopsReadingItsEventsIsDroppedAndTheOthersAreServed() throws Exception {
        serve(new QmpLimits(16, 1 << 20, 4 << 20, 64 << 10, Duration.ofSeconds(1)));
        try (var busy = QmpClient.connect(dir.resolve("qmp.sock"), WAIT)) {
            SocketChannel lazy = lazy();
            lazy.write(ByteBuffer.wrap("{\"execute\": \"qmp_capabilities\"}\n".getBytes(StandardCharsets.US_ASCII)));
            readLines(lazy, 2); // the greeting and the answer: negotiated, so the events are meant for it too
            // each pair raises STOP and RESUME: far more than the lazy client's socket buffer and outbox hold
            for (int i = 0; i < 2000; i++) {
                busy.execute("stop", null, WAIT);
                busy.execute("cont", null, WAIT);
            }
            Await.value("the lazy client to be dropped", server::clients, n -> n == 1);
            var drained = CompletableFuture.supplyAsync(() -> {
                var buf = ByteBuffer.allocate(1 << 16);
                try {
                    while (lazy.read(buf.clear()) >= 0) {
                        // what was written before the drop; the end of stream is what matters
                    }
                } catch (IOException e) {
                    // reset by the server: dropped as well
                }
                return true;
            });
            assertTrue(drained.get(WAIT.toSeconds(), TimeUnit.SECONDS), "the lazy client's connection ended");
            assertEquals("running", ((Json.Obj) busy.execute("query-status")).string("status"));
        }
    }

    @Test
    void quitWithTenClientsThatDoNotReadClosesWithinOneGraceForAll() throws Exception {
        // the outbox holds all that is sent to them, so they stay connected, each with a writer blocked on a full socket
        serve(new QmpLimits(16, 1 << 20, 4 << 20, 16 << 20, Duration.ofSeconds(1)));
        String requests = "{\"execute\": \"qmp_capabilities\"}\n" + "{\"execute\": \"query-commands\"}\n".repeat(2000);
        for (int i = 0; i < 10; i++) {
            ByteBuffer b = ByteBuffer.wrap(requests.getBytes(StandardCharsets.US_ASCII));
            SocketChannel c = lazy();
            while (b.hasRemaining()) {
                c.write(b);
            }
        }
        Await.value("ten clients with answers they do not read", server::clientsWithUnsentOutput, n -> n == 10);
        try (var c = QmpClient.connect(dir.resolve("qmp.sock"), WAIT)) {
            c.execute("quit");
        }
        // once 2 s per such client (20 s here); now one grace of 1 s for them all, the rest is prompt
        assertTrue(server.awaitClosed(Duration.ofSeconds(5)), "the server closed within 5 s");
    }

    /** Reads from {@code ch} up to the end of its {@code count}th line, and no further; fails after {@link #WAIT}. */
    private static void readLines(SocketChannel ch, int count) throws Exception {
        var seen = new StringBuffer();
        var reading = CompletableFuture.runAsync(() -> {
            var one = ByteBuffer.allocate(1);
            try {
                for (int lines = 0; lines < count; ) {
                    if (ch.read(one.clear()) < 0) {
                        throw new java.io.UncheckedIOException(new java.io.EOFException("the connection ended"));
                    }
                    seen.append((char) one.get(0));
                    if (one.get(0) == '\n') {
                        lines++;
                    }
                }
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        try {
            reading.get(WAIT.toSeconds(), TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            fail("expected " + count + " lines, read: " + seen, e);
        }
    }
}
