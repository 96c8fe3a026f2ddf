package dev.livemig.migration;

import dev.livemig.json.Json;
import dev.livemig.machine.Machine;
import dev.livemig.qemu.QemuOptions;
import dev.livemig.qemu.QemuProcess;
import dev.livemig.qemu.QemuVersion;
import dev.livemig.savevm.Snapshots;
import dev.livemig.transport.HandshakeGate;
import dev.livemig.transport.MigrationUri;
import dev.livemig.transport.tls.MigrationTls;
import dev.livemig.transport.tls.TestPki;
import dev.livemig.transport.tls.TlsEndpoint;
import dev.livemig.transport.tls.UserObjects;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * TLS between QEMU (7.2 and 10.0) and livemig, both directions, x509 and PSK, one channel and multifd: QEMU's
 * encrypted migration recorded by livemig holds QEMU's memory byte for byte, and livemig's encrypted replay leaves a
 * QEMU destination with it. QEMU refuses a livemig server whose certificate names another host, and livemig refuses
 * a QEMU client whose name its authz does not allow. The certificates are the tests' own ({@link TestPki}).
 */
@Tag("qemu")
class QemuTlsTest {
    private static final String MEMORY = "32M";
    private static final int RAM_BYTES = 32 << 20;
    private static final long IMAGE_AT = 0x100000;
    private static final String PSK_KEY = "4f3c2b1a09182736455463728190aabbccddeeff00112233445566778899aabb";

    @TempDir
    static Path pkiRoot;
    static TestPki pki;

    @TempDir
    Path dir;

    @BeforeAll
    static void makePki() {
        pki = TestPki.create(pkiRoot);
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @CsvSource({"V7_2, x509, single", "V7_2, x509, multifd", "V7_2, psk, single", "V7_2, psk, multifd",
            "V10_0, x509, single", "V10_0, x509, multifd", "V10_0, psk, single", "V10_0, psk, multifd"})
    void qemusEncryptedMigrationIsRecordedWholeAndReplayedIntoQemuEncrypted(QemuVersion version, String creds, String channels)
            throws Exception {
        byte[] image = new byte[1 << 20];
        new Random(creds.hashCode() + channels.hashCode()).nextBytes(image);
        Path file = dir.resolve("recorded.snap");
        Path pskDir = pskDir();
        byte[] high;
        try (QemuProcess source = QemuProcess.start(QemuOptions.paused("pc").on(version).withMemory(MEMORY)
                .withImage(IMAGE_AT, image).withArgs("-object", qemuObject(creds, TlsEndpoint.CLIENT, pskDir)))) {
            high = source.readGuestMemory(IMAGE_AT, RAM_BYTES - (int) IMAGE_AT);
            var recorder = new StreamRecorder(config(channels).withParameter("tls-creds", "tls0"));
            var serverTls = MigrationTls.resolve(objects(creds, TlsEndpoint.SERVER, pskDir), TlsEndpoint.SERVER, "tls0", "", "");
            MigrationUri at = recorder.listen(MigrationUri.parse("tcp:127.0.0.1:0"), HandshakeGate.DEFAULT.with(serverTls));
            var recorded = CompletableFuture.supplyAsync(() -> {
                try {
                    return recorder.record(file);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            setMultifd(source, channels);
            source.qmp().execute("migrate-set-parameters", Json.object().put("max-bandwidth", 1L << 30)
                    .put("tls-creds", "tls0").build());
            source.qmp().execute("migrate", Json.object().put("uri", at.toString()).build());
            Json.Obj info = source.waitForMigration(Duration.ofSeconds(60));
            assertEquals("completed", info.string("status"), info + "\n" + source.logTail());
            var result = recorded.get(60, TimeUnit.SECONDS);
            assertTrue(result.nonZeroPages() >= image.length / 4096, "the image's pages hold data: " + result);
        }
        try (Machine m = Snapshots.shape(file).machine()) {
            Snapshots.load(m, file);
            var ram = m.ramBlock("pc.ram").orElseThrow().memory();
            assertArrayEquals(high, ram.asSlice(IMAGE_AT, high.length).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE),
                    "recorded over TLS");
        }

        try (QemuProcess destination = QemuProcess.start(QemuOptions.incoming("pc", "defer").on(version).withPaused(true)
                .withMemory(MEMORY).withArgs("-object", qemuObject(creds, TlsEndpoint.SERVER, pskDir)));
             Machine m = Snapshots.shape(file).machine()) {
            m.enter(Snapshots.load(m, file).sourceRunState());
            setMultifd(destination, channels);
            destination.qmp().execute("migrate-set-parameters", Json.object().put("tls-creds", "tls0").build());
            int port = freePort();
            destination.qmp().execute("migrate-incoming", Json.object().put("uri", "tcp:127.0.0.1:" + port).build());
            var migration = new Migration(m, config(channels).withParameter("max-bandwidth", Long.toString(1L << 30))
                    .withParameter("tls-creds", "tls0"), e -> { });
            migration.objects(objects(creds, TlsEndpoint.CLIENT, pskDir));
            migration.start(MigrationUri.parse("tcp:127.0.0.1:" + port));
            assertEquals(MigrationStatus.COMPLETED, migration.awaitFinished(60, TimeUnit.SECONDS),
                    migration.info().toJson() + "\n" + destination.logTail());
            Json.Obj info = destination.waitForMigration(Duration.ofSeconds(30));
            assertEquals("completed", info.string("status"), info + "\n" + destination.logTail());
            assertArrayEquals(high, destination.readGuestMemory(IMAGE_AT, high.length), "replayed over TLS");
            if (channels.equals("multifd")) {
                assertTrue(migration.info().ram().multifdBytes() > image.length, "pages went over multifd channels");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void qemuRefusesALivemigServerWhoseCertificateNamesAnotherHost(QemuVersion version) throws Exception {
        try (QemuProcess source = QemuProcess.start(QemuOptions.paused("pc").on(version).withMemory(MEMORY)
                .withArgs("-object", qemuObject("x509", TlsEndpoint.CLIENT, null)))) {
            var recorder = new StreamRecorder(MigrationConfig.defaults().withParameter("tls-creds", "tls0"));
            var objects = new UserObjects();
            objects.add("tls-creds-x509", "tls0", Json.object().put("dir", pki.serverDir(TestPki.Flaw.WRONG_HOSTNAME).toString())
                    .put("endpoint", "server").build());
            var serverTls = MigrationTls.resolve(objects, TlsEndpoint.SERVER, "tls0", "", "");
            MigrationUri at = recorder.listen(MigrationUri.parse("tcp:127.0.0.1:0"),
                    new HandshakeGate(Duration.ofSeconds(5)).with(serverTls));
            var recording = CompletableFuture.runAsync(() -> {
                try {
                    recorder.record(dir.resolve("never.snap"));
                } catch (Exception e) {
                    // cancelled below
                }
            });
            String before = source.queryStatus();
            source.qmp().execute("migrate-set-parameters", Json.object().put("tls-creds", "tls0").build());
            source.qmp().execute("migrate", Json.object().put("uri", at.toString()).build());
            Json.Obj info = source.waitForMigration("failed", Duration.ofSeconds(30));
            recorder.cancel();
            recording.get(30, TimeUnit.SECONDS);
            assertEquals("Certificate does not match the hostname 127.0.0.1", info.string("error-desc"), info.toString());
            assertEquals(before, source.queryStatus(), "QEMU's guest is as it was");
        }
    }

    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void livemigRefusesAQemuClientWhoseNameItsAuthzDoesNotAllow(QemuVersion version) throws Exception {
        try (QemuProcess source = QemuProcess.start(QemuOptions.paused("pc").on(version).withMemory(MEMORY)
                .withArgs("-object", qemuObject("x509", TlsEndpoint.CLIENT, null)))) {
            var objects = objects("x509", TlsEndpoint.SERVER, null);
            objects.add("authz-simple", "auth0", Json.object().put("identity", "CN=another-client,O=livemig,C=GB").build());
            var serverTls = MigrationTls.resolve(objects, TlsEndpoint.SERVER, "tls0", "", "auth0");
            var recorder = new StreamRecorder(MigrationConfig.defaults().withParameter("tls-creds", "tls0"));
            MigrationUri at = recorder.listen(MigrationUri.parse("tcp:127.0.0.1:0"),
                    new HandshakeGate(Duration.ofSeconds(5)).with(serverTls));
            var recorded = CompletableFuture.supplyAsync(() -> {
                try {
                    return recorder.record(dir.resolve("never.snap"));
                } catch (Exception e) {
                    return e;
                }
            });
            source.qmp().execute("migrate-set-parameters", Json.object().put("tls-creds", "tls0").build());
            source.qmp().execute("migrate", Json.object().put("uri", at.toString()).build());
            Json.Obj info = source.waitForMigration("failed", Duration.ofSeconds(30));
            assertEquals("failed", info.string("status"));
            dev.livemig.testing.Await.until("the recorder dropped the connection", () -> recorder.refusedConnections() == 1);
            assertFalse(recorded.isDone(), "the recorder still listens");
            assertFalse(Files.exists(dir.resolve("never.snap")));
            recorder.cancel();
        }
    }

    private static String qemuObject(String creds, TlsEndpoint endpoint, Path pskDir) {
        return creds.equals("psk")
                ? "tls-creds-psk,id=tls0,dir=" + pskDir + ",endpoint=" + endpoint.qemuName()
                : "tls-creds-x509,id=tls0,dir=" + (endpoint == TlsEndpoint.SERVER ? pki.serverDir() : pki.clientDir())
                        + ",endpoint=" + endpoint.qemuName();
    }

    private static UserObjects objects(String creds, TlsEndpoint endpoint, Path pskDir) throws Exception {
        var objects = new UserObjects();
        String dir = creds.equals("psk") ? pskDir.toString()
                : (endpoint == TlsEndpoint.SERVER ? pki.serverDir() : pki.clientDir()).toString();
        objects.add(creds.equals("psk") ? "tls-creds-psk" : "tls-creds-x509", "tls0",
                Json.object().put("dir", dir).put("endpoint", endpoint.qemuName()).build());
        return objects;
    }

    private Path pskDir() throws Exception {
        Path d = Files.createDirectories(dir.resolve("psk"));
        Files.writeString(d.resolve("keys.psk"), "qemu:" + PSK_KEY + "\n");
        return d;
    }

    private static MigrationConfig config(String channels) throws Exception {
        if (channels.equals("single")) {
            return MigrationConfig.defaults();
        }
        return new MigrationConfig(Set.of(MigrationCapability.MULTIFD), 300, MigrationConfig.DEFAULT_MAX_BANDWIDTH)
                .withParameter("multifd-channels", "2");
    }

    private static void setMultifd(QemuProcess qemu, String channels) throws Exception {
        if (channels.equals("single")) {
            return;
        }
        List<Json> caps = new ArrayList<>(List.of(Json.object().put("capability", "multifd").put("state", true).build()));
        qemu.qmp().execute("migrate-set-capabilities", Json.object().put("capabilities", new Json.Arr(caps)).build());
        qemu.qmp().execute("migrate-set-parameters", Json.object().put("multifd-channels", 2).build());
    }

    private static int freePort() throws Exception {
        try (var s = new java.net.ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
