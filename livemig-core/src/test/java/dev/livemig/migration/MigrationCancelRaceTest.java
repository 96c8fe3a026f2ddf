package dev.livemig.migration;

import dev.livemig.machine.Machine;
import dev.livemig.machine.RunState;
import dev.livemig.transport.MigrationUri;
import org.junit.jupiter.api.Test;

import java.lang.foreign.ValueLayout;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * migrate_cancel at any moment, the end of the switchover included: the migration always reaches a final
 * status, and the source's run state matches it (cancelled: running again; completed: postmigrate).
 */
class MigrationCancelRaceTest {
    private static final MigrationConfig CONFIG = new MigrationConfig(Set.of(MigrationCapability.RETURN_PATH), 300, 1L << 30);

    private static Machine machine() {
        Machine m = Machine.builder("livemig-test").ram("ram", 2L << 20).build();
        m.ramBlock("ram").orElseThrow().memory().set(ValueLayout.JAVA_LONG, 4096, 42);
        return m;
    }

    /**
     * Migrates a running 2 MiB machine and cancels it {@code delayNs} after start (negative: never), or, with
     * {@code whenDestinationCompletes}, from the destination's COMPLETED event: the source is then between its
     * last byte and its own outcome.
     */
    private static MigrationStatus migrateAndCancel(long delayNs, java.nio.file.Path dir, int round,
                                                    boolean whenDestinationCompletes) throws Exception {
        try (Machine source = machine(); Machine dest = machine()) {
            source.resume();
            var migration = new java.util.concurrent.atomic.AtomicReference<Migration>();
            var incoming = new IncomingMigration(dest, CONFIG, false, e -> {
                if (whenDestinationCompletes && e instanceof MigrationEvent.StatusChanged(var s, var t)
                        && s == MigrationStatus.COMPLETED) {
                    migration.get().cancel();
                }
            });
            MigrationUri address = incoming.listen(MigrationUri.parse("unix:" + dir.resolve("m" + round + ".sock")));
            var m = new Migration(source, CONFIG, e -> { });
            migration.set(m);
            long t0 = System.nanoTime();
            m.start(address);
            if (delayNs >= 0) {
                while (System.nanoTime() - t0 < delayNs) {
                    Thread.onSpinWait();
                }
                m.cancel();
            }
            MigrationStatus end = m.awaitFinished(30, TimeUnit.SECONDS);
            assertTrue(end.isFinal(), "round " + round + ": the migration never ended, status " + end.qemuName());
            if (end == MigrationStatus.COMPLETED) {
                assertEquals(RunState.POSTMIGRATE, source.runState(), "round " + round);
            } else {
                assertEquals(MigrationStatus.CANCELLED, end, "round " + round + ": " + m.info().errorDesc());
                assertTrue(source.runState().isRunning(), "round " + round + ": a cancelled source runs on");
            }
            incoming.cancel();
            incoming.awaitFinished(10, TimeUnit.SECONDS);
            return end;
        }
    }

    @Test
    void aCancelAtAnyMomentEndsCancelledWithTheSourceRunningOrCompletedWithItStopped(
            @org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        long duration = Long.MAX_VALUE;
        for (int warm = 0; warm < 3; warm++) { // the shortest of warm runs: a cold one is many times slower
            long t0 = System.nanoTime();
            assertEquals(MigrationStatus.COMPLETED, migrateAndCancel(-1, dir, -1 - warm, false));
            duration = Math.min(duration, System.nanoTime() - t0);
        }
        var rnd = new SplittableRandom(11);
        int completed = 0;
        int cancelled = 0;
        for (int round = 1; round <= 40; round++) {
            // cancels spread over the whole migration, its end included, where cancel races with completion
            if (migrateAndCancel(rnd.nextLong(duration + duration / 4), dir, round, false) == MigrationStatus.COMPLETED) {
                completed++;
            } else {
                cancelled++;
            }
        }
        System.out.printf("cancel race: %d completed, %d cancelled (migration ~%.1f ms)%n", completed, cancelled, duration / 1e6);
    }

    @Test
    void aCancelAsTheDestinationCompletesStillGivesTheSourceAFinalStatus(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        for (int round = 0; round < 20; round++) {
            migrateAndCancel(-1, dir, round, true);
        }
    }
}
