package dev.livemig.migration;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/** The warm-up's scratch migrations (test JVMs run with -Dlivemig.warmup=off, so it is driven directly here). */
class CodeWarmUpTest {
    @Test
    void aRoundMigratesTwoScratchMachinesCompletelyAndLeavesNoThreadBehind() throws Exception {
        assertEquals(2, CodeWarmUp.runRounds(1, () -> false), "single channel and multifd, both completed");
        assertTrue(Thread.getAllStackTraces().keySet().stream()
                .noneMatch(t -> t.getName().startsWith("livemig-mig-") || t.getName().startsWith("livemig-multifd")),
                "every migration thread ended");
    }

    @Test
    void itStopsBetweenMigrationsOnceTheStopConditionHolds() throws Exception {
        AtomicInteger asked = new AtomicInteger();
        assertEquals(1, CodeWarmUp.runRounds(3, () -> asked.incrementAndGet() > 1), "one scratch migration, then it stops");
    }

    @Test
    void aRealMigrationStartingStopsFurtherRounds() throws Exception {
        try (var m = dev.livemig.machine.Machine.builder("m").ram("ram", 1 << 20).build()) {
            // refused (nothing listens at port 1), but it has begun as far as the warm-up is concerned
            var migration = new Migration(m, MigrationConfig.defaults(), e -> { });
            migration.start(dev.livemig.transport.MigrationUri.parse("tcp:127.0.0.1:1"));
            migration.awaitFinished(30, java.util.concurrent.TimeUnit.SECONDS);
        }
        assertTrue(CodeWarmUp.realMigrationBegan());
    }
}
