package dev.livemig.migration;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** Each migrate starts its statistics and its MIGRATION_PASS numbers from zero, as QEMU's do. */
class MigrationStatisticsTest {
    private final LiveGuests guests = new LiveGuests(8L << 20);

    @AfterEach
    void release() throws Exception {
        guests.close();
    }

    private static long firstPass(LiveGuests.Pair pair) {
        return pair.sourceEvents().stream().filter(e -> e instanceof MigrationEvent.Pass).map(e -> ((MigrationEvent.Pass) e).pass())
                .findFirst().orElseThrow(() -> new AssertionError("no MIGRATION_PASS: " + pair.sourceEvents()));
    }

    @Test
    void aSecondMigrationOfTheSameMachineCountsOnlyItsOwnBytesAndPasses() throws Exception {
        var source = guests.guest(0);
        var config = new MigrationConfig(Set.of(MigrationCapability.EVENTS), 300, 1L << 30);
        var first = guests.migrate(source, guests.guest(0), config, "tcp:127.0.0.1:0");
        assertEquals(MigrationStatus.COMPLETED, first.source().awaitFinished(60, TimeUnit.SECONDS));
        var firstRam = first.source().info().ram();

        var second = guests.migrate(source, guests.guest(0), config, "tcp:127.0.0.1:0");
        assertEquals(MigrationStatus.COMPLETED, second.source().awaitFinished(60, TimeUnit.SECONDS));
        var secondRam = second.source().info().ram();

        // the same paused machine twice: the same pages, not the sum of both (the byte totals may differ a little:
        // transferred also counts the stream's other sections)
        assertEquals(firstRam.normal(), secondRam.normal(), "second: " + secondRam + " first: " + firstRam);
        assertEquals(firstRam.duplicate(), secondRam.duplicate());
        assertEquals(firstRam.dirtySyncCount(), secondRam.dirtySyncCount());
        assertTrue(secondRam.transferred() < firstRam.transferred() * 3 / 2, "second: " + secondRam + " first: " + firstRam);
        assertEquals(firstPass(first), firstPass(second), "MIGRATION_PASS numbers start again");
        assertEquals(firstRam, first.source().info().ram(), "the first migration's figures stay its own");
    }
}
