package dev.livemig.qmp;

import dev.livemig.cpr.CprIncoming;
import dev.livemig.json.Json;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RamBlock;
import dev.livemig.machine.RunState;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.testing.Await;
import dev.livemig.transport.MigrationUri;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * cpr-transfer driven as QEMU 10.0 is: {@code migrate-set-parameters mode=cpr-transfer}, then {@code migrate} with
 * the {@code channels} argument naming the main and the cpr channel (QAPI MigrationChannel objects); the destination
 * is a QMP server whose machine maps the memory that came on the cpr channel.
 */
class QmpCprTransferTest {
    private static final long RAM = 8 << 20;

    @TempDir
    Path dir;

    @Test
    void migrateWithAMainAndACprChannelHandsTheRamOverToADestinationServingQmp() throws Exception {
        Path cprPath = dir.resolve("cpr.sock");
        Path mainPath = dir.resolve("main.sock");
        try (Arena sourceArena = Arena.ofShared(); Arena destArena = Arena.ofShared();
             Machine source = Machine.builder("t").ram(RamBlock.memfd(sourceArena, "ram", RAM)).initialState(RunState.RUNNING).build();
             QmpServer server = serve(source, dir.resolve("source.qmp"));
             QmpClient qmp = QmpClient.connect(dir.resolve("source.qmp"), Await.DEADLINE);
             CprIncoming.Listener cprListener = CprIncoming.listen(cprPath)) {
            source.ramBlock("ram").orElseThrow().memory().set(ValueLayout.JAVA_LONG, 4096 * 100, 0x600d600dL);
            qmp.execute("migrate-set-parameters", Json.object().put("mode", "cpr-transfer").build());
            qmp.execute("migrate", Json.object().put("channels", new Json.Arr(List.of(channel("main", mainPath),
                    channel("cpr", cprPath)))).build());
            try (CprIncoming cpr = cprListener.accept(20_000);
                 Machine dest = Machine.builder("t").ram(cpr.ramBlock(destArena, "ram", RAM)).build();
                 QmpServer destination = QmpServer.builder(dest).unix(dir.resolve("dest.qmp")).dialect(dev.livemig.migration.QmpDialect.QEMU_10_0)
                         .incoming(MigrationUri.parse("unix:" + mainPath), true).cprIncoming(cpr).start()) {
                var incoming = destination.incomingStarted().toCompletableFuture().get(20, TimeUnit.SECONDS);
                assertEquals(MigrationStatus.COMPLETED, incoming.awaitFinished(60, TimeUnit.SECONDS), String.valueOf(incoming.error()));
                Await.until("the source to complete", () -> status(qmp).equals("completed"), () -> status(qmp));
                Json.Obj ram = ((Json.Obj) qmp.execute("query-migrate")).get("ram").orElseThrow().asObject();
                assertEquals(0, ram.number("normal") + ram.number("duplicate"), ram.toString());
                assertEquals(0x600d600dL, dest.ramBlock("ram").orElseThrow().memory().get(ValueLayout.JAVA_LONG, 4096 * 100));
                assertEquals("postmigrate", ((Json.Obj) qmp.execute("query-status")).string("status"));
            }
        }
    }

    @Test
    void migrateRefusesWhatQemuRefusesWithItsTexts() throws Exception {
        Path mainPath = dir.resolve("main.sock");
        try (Arena arena = Arena.ofShared();
             Machine memfd = Machine.builder("t").ram(RamBlock.memfd(arena, "ram", RAM)).initialState(RunState.RUNNING).build();
             QmpServer server = serve(memfd, dir.resolve("source.qmp"));
             QmpClient qmp = QmpClient.connect(dir.resolve("source.qmp"), Await.DEADLINE);
             Machine anonymous = Machine.builder("t").ram("ram", RAM).initialState(RunState.RUNNING).build();
             QmpServer anonymousServer = serve(anonymous, dir.resolve("anonymous.qmp"));
             QmpClient anonymousQmp = QmpClient.connect(dir.resolve("anonymous.qmp"), Await.DEADLINE)) {
            assertEquals("need either 'uri' or 'channels' argument", refusal(qmp, Json.object().build()));
            assertEquals("need either 'uri' or 'channels' argument", refusal(qmp, Json.object().put("uri", "unix:" + mainPath)
                    .put("channels", new Json.Arr(List.of(channel("main", mainPath)))).build()));
            assertEquals("Channel list has more than one main entry", refusal(qmp, channels(channel("main", mainPath),
                    channel("main", mainPath))));
            assertEquals("Channel list has no main entry", refusal(qmp, channels(channel("cpr", mainPath))));
            qmp.execute("migrate-set-parameters", Json.object().put("mode", "cpr-transfer").build());
            anonymousQmp.execute("migrate-set-parameters", Json.object().put("mode", "cpr-transfer").build());
            assertEquals("missing 'cpr' migration channel", refusal(qmp, channels(channel("main", mainPath))));
            assertEquals("missing 'cpr' migration channel", refusal(qmp, Json.object().put("uri", "unix:" + mainPath).build()));
            assertTrue(refusal(anonymousQmp, channels(channel("main", mainPath), channel("cpr", dir.resolve("cpr.sock"))))
                    .startsWith("Memory region ram is not compatible with CPR."));
            assertEquals("running", ((Json.Obj) anonymousQmp.execute("query-status")).string("status"));
        }
    }

    /** QEMU 10.0's QMP: the dialect with parameter mode and migrate's channels. */
    private static QmpServer serve(Machine machine, Path socket) throws Exception {
        return QmpServer.builder(machine).unix(socket).dialect(dev.livemig.migration.QmpDialect.QEMU_10_0).start();
    }

    private static String status(QmpClient qmp) {
        try {
            return ((Json.Obj) qmp.execute("query-migrate")).get("status").map(Json::asString).orElse("none");
        } catch (java.io.IOException e) {
            return e.toString();
        }
    }

    private static String refusal(QmpClient qmp, Json.Obj arguments) {
        return assertThrows(QmpError.class, () -> qmp.execute("migrate", arguments)).desc();
    }

    private static Json.Obj channels(Json... channels) {
        return Json.object().put("channels", new Json.Arr(List.of(channels))).build();
    }

    private static Json channel(String type, Path path) {
        return Json.object().put("channel-type", type).put("addr", Json.object().put("transport", "socket")
                .put("type", "unix").put("path", path.toString()).build()).build();
    }
}
