package dev.livemig.cli;

import dev.livemig.testing.Await;
import dev.livemig.cli.guest.DemoGuest;
import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;
import dev.livemig.machine.RunState;
import dev.livemig.migration.Migration;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.transport.MigrationUri;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** A destination process killed mid-migration: the source fails, keeps running intact, and migrates again. */
class DestinationDiesIT {
    private static final long RAM = 64L << 20;

    @Test
    void theSourceSurvivesAKilledDestinationAndASecondMigrationSucceeds() throws Exception {
        try (DemoGuest guest = new DemoGuest(RAM, 16L << 20)) {
            guest.fillHalf(7);
            guest.machine().resume();
            // 32 MiB of random pages at 8 MiB/s at most: four seconds at least, however loaded the machine, so the
            // kill, once the first MiB is out, lands mid-migration
            var slow = new MigrationConfig(Set.of(), 300, 8L << 20);
            try (var doomed = LivemigProcess.start(List.of("tcp:127.0.0.1:0", "--ram", Long.toString(RAM)))) {
                var at = MigrationUri.parse(doomed.nextLine().string("listening"));
                var first = dev.livemig.testing.Controllers.migrate(guest.machine(), slow, at);
                Await.value("the first MiB to be sent", () -> first.info().toJson(),
                        q -> QueryMigrate.status(q).equals("active") && QueryMigrate.transferred(q) >= 1L << 20, QueryMigrate::ended,
                        QueryMigrate.WAIT);
                doomed.kill();
                assertEquals(MigrationStatus.FAILED, first.awaitFinished(30, TimeUnit.SECONDS));
                assertNotNull(first.info().errorDesc());
            }
            assertEquals(RunState.RUNNING, guest.machine().runState(), "the source keeps running");
            guest.machine().pause();
            String cpu = guest.digests().get("cpu");
            guest.machine().resume();
            Await.value("the guest's sweep to move on (its cpu state to change)", () -> {
                guest.machine().pause(); // its state is read between two pages, the sweep resumed if it must go on
                String now = guest.digests().get("cpu");
                if (now.equals(cpu)) {
                    guest.machine().resume();
                }
                return now;
            }, now -> !now.equals(cpu));
            assertNull(guest.verify(Map.of()), "its memory is intact");
            guest.machine().resume();

            try (var fresh = LivemigProcess.start(List.of("tcp:127.0.0.1:0", "--ram", Long.toString(RAM), "--expect-stdin"))) {
                var at = MigrationUri.parse(fresh.nextLine().string("listening"));
                var second = dev.livemig.testing.Controllers.migrate(guest.machine(), new MigrationConfig(Set.of(), 300, 1L << 30), at);
                assertEquals(MigrationStatus.COMPLETED, second.awaitFinished(60, TimeUnit.SECONDS), second.info().toJson().toString());
                var digests = Json.object();
                guest.digests().forEach(digests::put);
                fresh.send(JsonWriter.compact(digests.build()));
                Json.Obj verdict = fresh.nextLine();
                assertEquals(new Json.Bool(true), verdict.get("verified").orElseThrow(), verdict.toString());
            }
        }
    }
}
