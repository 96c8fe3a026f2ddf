package dev.livemig.migration;

import dev.livemig.cpr.CprIncoming;
import dev.livemig.linux.SocketDescriptor;
import dev.livemig.machine.DescriptorOwner;
import dev.livemig.machine.HandedOver;
import dev.livemig.transport.HandshakeGate;
import dev.livemig.transport.MigrationUri;
import dev.livemig.vmstate.VmStateDescription;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * cpr-transfer hands the application's sockets to the new instance with the RAM (a {@link DescriptorOwner} device):
 * the new instance serves on the very listening socket and connections, so a client never reconnects, and what it
 * sent while the instances changed is read by the new one.
 */
class CprSocketHandOverTest {
    private static final long RAM = 4 << 20;

    @TempDir
    Path dir;

    /** A device whose state is how many connections it took, and which owns a listening socket and one connection. */
    static final class Sockets implements DescriptorOwner {
        long accepted;
        ServerSocketChannel listening;
        SocketChannel connection;
        int handOvers;
        int abandoned;

        static final VmStateDescription<Sockets> DESCRIPTION = VmStateDescription.<Sockets>builder("sockets").version(1)
                .uint64("accepted", s -> s.accepted, (s, v) -> s.accepted = v)
                .build();

        @Override
        public List<HandedOver> handOver() {
            handOvers++;
            return List.of(new HandedOver("listening", 0, new SocketDescriptor(listening)),
                    new HandedOver("connection", 0, new SocketDescriptor(connection)));
        }

        @Override
        public void handOverAbandoned() {
            abandoned++;
        }
    }

    @Test
    void theNewInstanceServesOnTheSameSocketsAndTheClientNeverReconnects() throws Exception {
        Path cprPath = dir.resolve("cpr.sock");
        MigrationUri main = MigrationUri.parse("unix:" + dir.resolve("main.sock"));
        var old = new Sockets();
        old.listening = listeningOnLoopback();
        try (SocketChannel client = SocketChannel.open(old.listening.getLocalAddress());
             LiveGuest source = LiveGuest.overMemfd(RAM, 1_000);
             CprIncoming.Listener cprListener = CprIncoming.listen(cprPath)) {
            old.accepted = 1;
            var migration = transferring(source, old, main, cprPath);
            try (CprIncoming cpr = cprListener.accept(20_000);
                 LiveGuest restarted = LiveGuest.overHandedOver(cpr, RAM)) {
                var taken = new Sockets();
                restarted.machine.devices().register("sockets", 0, Sockets.DESCRIPTION, taken);
                // the new instance takes its sockets as it builds its guest, before it listens
                taken.listening = cpr.listeningSocket("listening", 0);
                taken.connection = cpr.connectedSocket("connection", 0);
                var incoming = new IncomingMigration(restarted.machine, MigrationConfig.defaults(), true, e -> { });
                incoming.listen(main, HandshakeGate.DEFAULT, cpr);
                assertEquals(MigrationStatus.COMPLETED, migration.awaitFinished(60, TimeUnit.SECONDS), migration.info().toJson().toString());
                assertEquals(MigrationStatus.COMPLETED, incoming.awaitFinished(60, TimeUnit.SECONDS), String.valueOf(incoming.error()));
                assertEquals(1, old.handOvers);
                assertEquals(0, old.abandoned);
                assertEquals(1, taken.accepted, "the device state came with the sockets");

                client.write(ByteBuffer.wrap("sent meanwhile".getBytes(StandardCharsets.US_ASCII)));
                try (ServerSocketChannel listening = taken.listening; SocketChannel connection = taken.connection) {
                    // the old instance lets go of its descriptors (it exits, say): the sockets live on in the new one
                    old.connection.close();
                    old.listening.close();
                    assertEquals(client.getLocalAddress(), connection.getRemoteAddress());
                    assertEquals("sent meanwhile", read(connection, 14));
                    connection.write(ByteBuffer.wrap("answered".getBytes(StandardCharsets.US_ASCII)));
                    assertEquals("answered", read(client, 8), "the client's connection is the one the new instance answers on");
                    try (SocketChannel second = SocketChannel.open(listening.getLocalAddress());
                         SocketChannel acceptedHere = listening.accept()) {
                        assertEquals(second.getLocalAddress(), acceptedHere.getRemoteAddress(), "a new client reaches the new instance");
                    }
                }
            }
        }
    }

    @Test
    void aDescriptorOfTheWrongKindIsRefusedAndStaysForTheRightOwner() throws Exception {
        Path cprPath = dir.resolve("cpr.sock");
        var old = new Sockets();
        old.listening = listeningOnLoopback();
        try (SocketChannel client = SocketChannel.open(old.listening.getLocalAddress());
             LiveGuest source = LiveGuest.overMemfd(RAM, 0);
             CprIncoming.Listener cprListener = CprIncoming.listen(cprPath)) {
            var migration = transferring(source, old, MigrationUri.parse("unix:" + dir.resolve("main.sock")), cprPath);
            try (CprIncoming cpr = cprListener.accept(20_000); Arena arena = Arena.ofShared()) {
                assertEquals(List.of(0), cpr.ids("connection"));
                var listens = assertThrows(IOException.class, () -> cpr.connectedSocket("listening", 0));
                assertEquals("the socket passed as listening/0 listens: it is no connection", listens.getMessage());
                var connected = assertThrows(IOException.class, () -> cpr.listeningSocket("connection", 0));
                assertEquals("the socket passed as connection/0 does not listen", connected.getMessage());
                var notMemory = assertThrows(IOException.class, () -> cpr.ramBlock(arena, "connection", 4096));
                assertTrue(notMemory.getMessage().contains("not a memory file"), notMemory.getMessage());
                var notSocket = assertThrows(IOException.class, () -> cpr.connectedSocket("ram", 0));
                assertTrue(notSocket.getMessage().startsWith("the descriptor passed as ram/0: getsockopt"), notSocket.getMessage());
                try (SocketChannel connection = cpr.connectedSocket("connection", 0)) {
                    assertTrue(connection.isConnected(), "refusals leave the descriptor for its right owner");
                }
            } // the new instance gives up before it listens: the old one carries on with its sockets
            assertEquals(MigrationStatus.FAILED, migration.awaitFinished(60, TimeUnit.SECONDS));
            assertEquals(1, old.abandoned);
            client.write(ByteBuffer.wrap("still here".getBytes(StandardCharsets.US_ASCII)));
            assertEquals("still here", read(old.connection, 10));
        } finally {
            old.listening.close();
            if (old.connection != null) {
                old.connection.close();
            }
        }
    }

    /**
     * A state that names a descriptor the new instance has no owner for is refused before it listens (with the entry's
     * offset); the old instance then fails to connect and runs on, and nothing the new one received stays open.
     */
    @Test
    void aNewInstanceWithoutAnOwnerForANameRefusesTheStateAndLeaksNoDescriptor() throws Exception {
        Path cprPath = dir.resolve("cpr.sock");
        MigrationUri main = MigrationUri.parse("unix:" + dir.resolve("main.sock"));
        var old = new Sockets();
        old.listening = listeningOnLoopback();
        try (SocketChannel client = SocketChannel.open(old.listening.getLocalAddress());
             LiveGuest source = LiveGuest.overMemfd(RAM, 1_000);
             CprIncoming.Listener cprListener = CprIncoming.listen(cprPath)) {
            long before = openDescriptors() + 1; // the connection about to be accepted stays the old instance's
            var migration = transferring(source, old, main, cprPath);
            try (CprIncoming cpr = cprListener.accept(20_000);
                 LiveGuest restarted = LiveGuest.overHandedOver(cpr, RAM)) { // its RAM only: no owner for the sockets
                var incoming = new IncomingMigration(restarted.machine, MigrationConfig.defaults(), true, e -> { });
                var refused = assertThrows(dev.livemig.wire.MigrationException.class, () -> incoming.listen(main, HandshakeGate.DEFAULT, cpr));
                assertTrue(refused.getMessage().contains("hands over 2 descriptor(s) this process has no use for: [listening/0, connection/0]"),
                        refused.getMessage());
                assertTrue(refused.getMessage().contains("section=cpr state"), refused.getMessage());
            }
            assertEquals(MigrationStatus.FAILED, migration.awaitFinished(60, TimeUnit.SECONDS));
            assertEquals(dev.livemig.machine.RunState.RUNNING, source.machine.runState(), "the old instance runs on");
            assertEquals(1, old.abandoned);
            dev.livemig.testing.Await.until("the new instance's descriptors to be closed", () -> openDescriptors() <= before,
                    () -> openDescriptors() + " open, " + before + " before");
            client.write(ByteBuffer.wrap("still here".getBytes(StandardCharsets.US_ASCII)));
            assertEquals("still here", read(old.connection, 10));
        } finally {
            old.listening.close();
            if (old.connection != null) {
                old.connection.close();
            }
        }
    }

    private static ServerSocketChannel listeningOnLoopback() throws IOException {
        return ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    }

    /** The old instance: takes the client's connection, registers its sockets, runs, and starts the cpr-transfer. */
    private static Migration transferring(LiveGuest source, Sockets old, MigrationUri main, Path cprPath) throws Exception {
        old.connection = old.listening.accept();
        source.machine.devices().register("sockets", 0, Sockets.DESCRIPTION, old);
        source.start();
        var migration = new Migration(source.machine, cprTransfer(), e -> { });
        migration.start(main, MigrationUri.parse("unix:" + cprPath));
        return migration;
    }

    private static long openDescriptors() {
        try (var fds = java.nio.file.Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static String read(SocketChannel channel, int bytes) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(bytes);
        while (b.hasRemaining()) {
            if (channel.read(b) < 0) {
                throw new IOException("closed by the peer after " + b.position() + " bytes");
            }
        }
        return new String(b.array(), StandardCharsets.US_ASCII);
    }

    private static MigrationConfig cprTransfer() throws MigrationConfigException {
        return new MigrationConfig(EnumSet.noneOf(MigrationCapability.class), 300, 1L << 30).withParameter("mode", "cpr-transfer");
    }
}
