package dev.livemig.qmp;

import dev.livemig.json.Json;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RunState;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.testing.Await;
import dev.livemig.transport.tls.TestPki;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * TLS as management software drives it over QMP: object-add creates the credentials (and object-del removes them),
 * migrate-set-parameters names them, query-migrate-parameters shows them, and migrate runs encrypted — with QEMU's
 * texts for every refusal on the way.
 */
class QmpTlsTest {
    private static final long RAM = 8 << 20;
    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    @Test
    void aMigrationWhoseCredentialsCameByObjectAddRunsEncrypted() throws Exception {
        var pki = TestPki.create(dir.resolve("pki"));
        try (Machine source = Machine.builder("t").ram("ram", RAM).initialState(RunState.RUNNING).build();
             Machine dest = Machine.builder("t").ram("ram", RAM).build();
             QmpServer sourceServer = QmpServer.start(source, dir.resolve("source.qmp"), null);
             QmpServer destServer = QmpServer.builder(dest).unix(dir.resolve("dest.qmp")).incoming(null, true).start();
             QmpClient s = QmpClient.connect(dir.resolve("source.qmp"), WAIT);
             QmpClient d = QmpClient.connect(dir.resolve("dest.qmp"), WAIT)) {
            source.ramBlock("ram").orElseThrow().memory().set(ValueLayout.JAVA_LONG, 4096 * 5, 0x715L);
            d.execute("object-add", Json.object().put("qom-type", "tls-creds-x509").put("id", "tls0")
                    .put("dir", pki.serverDir().toString()).put("endpoint", "server").build());
            d.execute("object-add", Json.object().put("qom-type", "authz-simple").put("id", "auth0")
                    .put("identity", pki.clientDn()).build());
            d.execute("migrate-set-parameters", Json.object().put("tls-creds", "tls0").put("tls-authz", "auth0").build());
            d.execute("migrate-incoming", Json.object().put("uri", "tcp:127.0.0.1:0").build());
            String port = d.execute("query-migrate").asObject().get("socket-address").orElseThrow().asArray().getFirst()
                    .asObject().string("port");

            s.execute("object-add", Json.object().put("qom-type", "tls-creds-x509").put("id", "tls0")
                    .put("dir", pki.clientDir().toString()).put("endpoint", "client").put("verify-peer", true).build());
            s.execute("migrate-set-parameters", Json.object().put("tls-creds", "tls0").put("tls-hostname", "localhost").build());
            Json.Obj params = s.execute("query-migrate-parameters").asObject();
            assertEquals("tls0", params.string("tls-creds"));
            assertEquals("localhost", params.string("tls-hostname"));
            assertEquals("", params.string("tls-authz"));

            s.execute("migrate", Json.object().put("uri", "tcp:127.0.0.1:" + port).build());
            Await.until("the source to complete", () -> s.execute("query-migrate").asObject().get("status")
                    .map(Json::asString).orElse("").equals("completed"), () -> s.execute("query-migrate").toString());
            var incoming = destServer.incomingStarted().toCompletableFuture().get(20, TimeUnit.SECONDS);
            assertEquals(MigrationStatus.COMPLETED, incoming.awaitFinished(20, TimeUnit.SECONDS), incoming.error());
            assertEquals(0x715L, dest.ramBlock("ram").orElseThrow().memory().get(ValueLayout.JAVA_LONG, 4096 * 5));
        }
    }

    @Test
    void objectAddAndObjectDelRefuseAsQemuDoes() throws Exception {
        var pki = TestPki.create(dir.resolve("pki"));
        try (Machine m = Machine.builder("t").ram("ram", RAM).build();
             QmpServer server = QmpServer.start(m, dir.resolve("qmp.sock"), null);
             QmpClient c = QmpClient.connect(dir.resolve("qmp.sock"), WAIT)) {
            Json.Obj creds = Json.object().put("qom-type", "tls-creds-x509").put("id", "tls0")
                    .put("dir", pki.clientDir().toString()).put("endpoint", "client").build();
            c.execute("object-add", creds);
            assertEquals("attempt to add duplicate property 'tls0' to object (type 'container')", refused(c, "object-add", creds));
            assertEquals("Parameter 'id' expects an identifier", refused(c, "object-add", Json.object()
                    .put("qom-type", "authz-simple").put("id", "0bad").put("identity", "x").build()));
            assertEquals("Parameter 'id' is missing", refused(c, "object-add", Json.object()
                    .put("qom-type", "authz-simple").put("identity", "x").build()));
            assertEquals("Parameter 'endpoint' does not accept value 'both'", refused(c, "object-add", Json.object()
                    .put("qom-type", "tls-creds-x509").put("id", "tls1").put("dir", pki.clientDir().toString())
                    .put("endpoint", "both").build()));
            assertEquals("Parameter 'nonsense' is unexpected", refused(c, "object-add", Json.object()
                    .put("qom-type", "authz-simple").put("id", "a").put("identity", "x").put("nonsense", 1).build()));

            c.execute("migrate-set-parameters", Json.object().put("tls-creds", "tls0").build());
            assertEquals("Zero copy only available for non-compressed non-TLS multifd migration", refused(c,
                    "migrate-set-capabilities", Json.object().put("capabilities", new Json.Arr(java.util.List.of(
                            Json.object().put("capability", "multifd").put("state", true).build(),
                            Json.object().put("capability", "zero-copy-send").put("state", true).build()))).build()));

            c.execute("object-del", Json.object().put("id", "tls0").build());
            assertEquals("object 'tls0' not found", refused(c, "object-del", Json.object().put("id", "tls0").build()));
        }
    }

    private static String refused(QmpClient c, String command, Json.Obj args) {
        QmpError e = assertThrows(QmpError.class, () -> c.execute(command, args));
        assertEquals("GenericError", e.errorClass());
        return e.desc();
    }
}
