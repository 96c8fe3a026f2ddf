package dev.livemig.cli;

import dev.livemig.cli.guest.DemoGuest;
import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.migration.MigrationController;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.transport.MigrationUri;
import dev.livemig.transport.tls.ObjectOption;
import dev.livemig.transport.tls.UserObjects;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code livemig incoming --object tls-creds-psk,… --parameter tls-creds=…}: a destination process whose credentials
 * come from the command line takes an encrypted migration and verifies the guest; a source with another key is
 * refused first and the destination still takes the right one.
 */
class TlsIT {
    private static final long RAM = 4L << 20;

    @TempDir
    Path dir;

    @Test
    void anIncomingProcessWithCommandLineCredentialsTakesOnlyTheSourceThatHasTheKey() throws Exception {
        Path keys = Files.createDirectories(dir.resolve("server"));
        Files.writeString(keys.resolve("keys.psk"), "qemu:00112233445566778899aabbccddeeff\n");
        Path wrongKeys = Files.createDirectories(dir.resolve("wrong"));
        Files.writeString(wrongKeys.resolve("keys.psk"), "qemu:ffeeddccbbaa99887766554433221100\n");
        var config = new MigrationConfig(Set.of(), 300, 1L << 30).withParameter("tls-creds", "tls0");
        try (DemoGuest guest = new DemoGuest(RAM, 64L << 10);
             var dest = LivemigProcess.start(List.of("tcp:127.0.0.1:0", "--ram", Long.toString(RAM),
                     "--object", "tls-creds-psk,id=tls0,dir=" + keys + ",endpoint=server",
                     "--parameter", "tls-creds=tls0", "--expect-stdin"))) {
            guest.machine().resume();
            var at = MigrationUri.parse(dest.nextLine().string("listening"));
            try (var wrong = MigrationController.builder(guest.machine()).config(config).objects(client(wrongKeys)).build()) {
                var m = wrong.migrate(at);
                assertEquals(MigrationStatus.FAILED, m.awaitFinished(60, TimeUnit.SECONDS));
            }
            assertTrue(guest.machine().runState().isRunning(), "the refused source runs on");
            try (var right = MigrationController.builder(guest.machine()).config(config).objects(client(keys)).build()) {
                var m = right.migrate(at);
                assertEquals(MigrationStatus.COMPLETED, m.awaitFinished(60, TimeUnit.SECONDS), m.info().toJson().toString());
            }
            var digests = Json.object();
            guest.digests().forEach(digests::put);
            dest.send(JsonWriter.compact(digests.build()));
            Json.Obj verdict = dest.nextLine();
            assertEquals(new Json.Bool(true), verdict.get("verified").orElseThrow(), verdict.toString());
        }
    }

    private static UserObjects client(Path keys) throws Exception {
        var objects = new UserObjects();
        ObjectOption.parse("tls-creds-psk,id=tls0,dir=" + keys + ",endpoint=client").addTo(objects);
        return objects;
    }
}
