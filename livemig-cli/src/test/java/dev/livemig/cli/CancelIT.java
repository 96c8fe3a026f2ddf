package dev.livemig.cli;

import dev.livemig.migration.MigrationCapability;
import dev.livemig.cli.guest.DemoGuest;
import dev.livemig.machine.RunState;
import dev.livemig.migration.Migration;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.transport.MigrationUri;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** Cancel against a destination in another process: the source runs on with every byte; the destination gives up. */
class CancelIT {
    private static final long RAM = 64L << 20;

    @ParameterizedTest
    @EnumSource(value = MigrationStatus.class, names = {"ACTIVE", "PRE_SWITCHOVER"})
    void cancelKeepsTheSourceRunningAndTheDestinationDiscards(MigrationStatus when) throws Exception {
        try (DemoGuest guest = new DemoGuest(RAM, 16L << 20);
             var dest = LivemigProcess.start(List.of("tcp:127.0.0.1:0", "--ram", Long.toString(RAM),
                     "--capability", "pause-before-switchover"))) {
            guest.fillHalf(3);
            guest.machine().resume();
            var at = MigrationUri.parse(dest.nextLine().string("listening"));
            // ACTIVE: 32 MiB of random pages at 8 MiB/s at most stay active for four seconds at least, however
            // loaded the machine, so the cancel comes midway; PRE_SWITCHOVER holds the migration until continued
            var config = new MigrationConfig(Set.of(MigrationCapability.PAUSE_BEFORE_SWITCHOVER), 300,
                    when == MigrationStatus.ACTIVE ? 8L << 20 : 1L << 30);
            var m = dev.livemig.testing.Controllers.migrate(guest.machine(), config, at);
            QueryMigrate.migrationStatus(m, when);
            m.cancel();
            assertEquals(MigrationStatus.CANCELLED, m.awaitFinished(30, TimeUnit.SECONDS));
            assertEquals(RunState.RUNNING, guest.machine().runState());
            guest.machine().pause();
            assertNull(guest.verify(Map.of()), "the source's memory is intact");
            var verdict = dest.nextLine();
            assertEquals("failed", verdict.string("status"), verdict.toString());
            assertEquals(new dev.livemig.json.Json.Bool(false), verdict.get("verified").orElseThrow());
        }
    }
}
