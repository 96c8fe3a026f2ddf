package dev.livemig.cli;

import dev.livemig.cli.guest.DemoGuest;
import dev.livemig.cli.guest.SlowLoadDevice;
import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;
import dev.livemig.machine.RunState;
import dev.livemig.migration.Migration;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.transport.MigrationUri;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * switchover-ack against a destination in another process: its slowdev acknowledges the switchover only after
 * {@value SlowLoadDevice#SETUP_MILLIS} ms of setup, and the source does not stop the guest before that, even
 * with all of RAM sent long before. Shown by the order of events, not by how long the downtime was: the
 * source enters pre-switchover (stopping the guest first, as QEMU 7.2 does) only once it may switch over,
 * and by then the setup's time has passed.
 */
class SwitchoverAckIT {
    /**
     * 1 MiB of RAM, zero but for the pages the guest dirties at 64 KiB/s: the whole stream is a few KiB and fits
     * in the sockets' buffers while the destination's load thread spends its setup asleep, so nothing but the
     * acknowledgement holds the source back (with more RAM the full buffers would hold it as long). Without the
     * acknowledgement it is ready to switch over after 300-450 ms on a cold JVM here, and fails this test.
     */
    private static final long RAM = 1L << 20;

    @Test
    void theSourceStopsTheGuestOnlyAfterTheDestinationsSlowSetup() throws Exception {
        try (DemoGuest guest = new DemoGuest(RAM, 64L << 10);
             var dest = LivemigProcess.start(List.of("tcp:127.0.0.1:0", "--ram", Long.toString(RAM),
                     "--capability", "return-path", "--capability", "switchover-ack", "--expect-stdin"))) {
            guest.machine().resume();
            var at = MigrationUri.parse(dest.nextLine().string("listening"));
            long startNs = System.nanoTime();
            var m = dev.livemig.testing.Controllers.migrate(guest.machine(), new MigrationConfig(
                    dev.livemig.migration.MigrationCapability.setOf("return-path", "switchover-ack", "pause-before-switchover"), 300, 1L << 30), at);
            QueryMigrate.migrationStatus(m, MigrationStatus.PRE_SWITCHOVER);
            long heldMs = (System.nanoTime() - startNs) / 1_000_000;
            assertEquals(RunState.FINISH_MIGRATE, guest.machine().runState(), "QEMU stops the guest before pre-switchover");
            // a lower bound: load or a cold JVM only make it longer, so this can miss a source that ignores the
            // acknowledgement, never fail one that waits for it
            assertTrue(heldMs >= SlowLoadDevice.SETUP_MILLIS, "ready to switch over after " + heldMs
                    + " ms, before the destination's " + SlowLoadDevice.SETUP_MILLIS + " ms device setup could end");

            m.continueFrom(MigrationStatus.PRE_SWITCHOVER);
            assertEquals(MigrationStatus.COMPLETED, m.awaitFinished(60, TimeUnit.SECONDS), m.info().toJson().toString());
            var digests = Json.object();
            guest.digests().forEach(digests::put);
            dest.send(JsonWriter.compact(digests.build()));
            Json.Obj verdict = dest.nextLine();
            assertEquals(new Json.Bool(true), verdict.get("verified").orElseThrow(), verdict.toString());
        }
    }
}
