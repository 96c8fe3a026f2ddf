package dev.livemig.migration;

import dev.livemig.testing.Await;
import dev.livemig.transport.HandshakeGate;
import dev.livemig.transport.MigrationUri;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** A destination squatted by a silent connection drops it and still takes the real migration, every page of it. */
class IncomingHandshakeTest {
    private static final HandshakeGate SHORT = new HandshakeGate(Duration.ofMillis(300));
    private final LiveGuests guests = new LiveGuests(8L << 20);

    @AfterEach
    void release() throws Exception {
        guests.close();
    }

    @Test
    void aSilentFirstConnectionDoesNotHoldTheDestination() throws Exception {
        migrateBehindASquatter(new MigrationConfig(Set.of(), 300, 1L << 30));
    }

    @Test
    void aSilentFirstConnectionIsNotTakenForTheMainChannelOfAMultifdMigration() throws Exception {
        migrateBehindASquatter(new MigrationConfig(Set.of(MigrationCapability.MULTIFD), 300, 1L << 30));
    }

    private void migrateBehindASquatter(MigrationConfig config) throws Exception {
        var source = guests.guest(2_000);
        var dest = guests.guest(0);
        source.start();
        var incoming = new IncomingMigration(dest.machine, config, true, e -> { });
        try {
            var address = (MigrationUri.Tcp) incoming.listen(MigrationUri.parse("tcp:127.0.0.1:0"), SHORT);
            try (SocketChannel squatter = SocketChannel.open(new InetSocketAddress(address.host(), address.port()))) {
                var migration = new Migration(source.machine, config, e -> { });
                migration.start(address);
                assertEquals(MigrationStatus.COMPLETED, migration.awaitFinished(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS),
                        () -> migration.info().toJson().toString());
                assertEquals(MigrationStatus.COMPLETED, incoming.awaitFinished(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS),
                        incoming::error);
                assertEquals(-1, squatter.read(ByteBuffer.allocate(1)), "the squatter was dropped");
            }
            dest.machine.pause();
            LiveGuests.assertSameGuest(source, dest);
        } finally {
            incoming.cancel();
        }
    }
}
