package dev.livemig.cli;

import dev.livemig.machine.Machine;
import dev.livemig.machine.RunState;
import dev.livemig.migration.IncomingMigration;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.qmp.QmpClient;
import dev.livemig.qmp.QmpServer;
import dev.livemig.transport.MigrationUri;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * A running source machine (16 MiB of RAM, half random, half zero) behind a real QmpServer on a unix socket
 * and on tcp, and, on request, a destination machine in this JVM waiting in an IncomingMigration.
 */
final class QmpSource implements AutoCloseable {
    static final long RAM = 16L << 20;
    static final Duration WAIT = Duration.ofSeconds(30);

    final Machine source;
    final Machine dest;
    private final QmpServer server;
    private final Path socket;
    private IncomingMigration incoming;

    QmpSource(Path dir) throws Exception {
        source = Machine.builder("t").ram("pc.ram", RAM).initialState(RunState.RUNNING).build();
        dest = Machine.builder("t").ram("pc.ram", RAM).build();
        fillHalf(ram(source), 7);
        socket = dir.resolve("qmp.sock");
        server = QmpServer.start(source, socket, new InetSocketAddress("127.0.0.1", 0));
    }

    private static void fillHalf(MemorySegment ram, long seed) {
        var random = new Random(seed);
        for (long off = 0; off < ram.byteSize() / 2; off += Long.BYTES) {
            ram.set(ValueLayout.JAVA_LONG_UNALIGNED, off, random.nextLong());
        }
    }

    static MemorySegment ram(Machine m) {
        return m.ramBlock("pc.ram").orElseThrow().memory();
    }

    String unix() {
        return "unix:" + socket;
    }

    String tcp() {
        return "tcp:127.0.0.1:" + server.tcpAddress().getPort();
    }

    QmpClient client() throws Exception {
        return QmpClient.connect(unix(), WAIT);
    }

    /** Starts the destination with the capabilities the source will use; returns the uri to migrate to. */
    String listen(String... capabilities) throws Exception {
        incoming = dev.livemig.testing.Controllers.listen(dest, new MigrationConfig(dev.livemig.migration.MigrationCapability.setOf(capabilities), 300, 1L << 30),
                MigrationUri.parse("tcp:127.0.0.1:0"), true);
        return incoming.address().toString();
    }

    IncomingMigration incoming() {
        return incoming;
    }

    @Override
    public void close() throws Exception {
        server.close(); // cancels a migration still running
        if (incoming != null) {
            incoming.cancel();
            incoming.awaitFinished(10, TimeUnit.SECONDS);
        }
        source.close();
        dest.close();
    }
}
