package dev.livemig.qmp;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParser;
import dev.livemig.machine.Machine;
import dev.livemig.migration.QmpDialect;
import dev.livemig.qemu.QemuOptions;
import dev.livemig.qemu.QemuProcess;
import dev.livemig.qemu.QemuVersion;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * livemig's QMP migration interface in each dialect against the QEMU release it claims to be, asked the same
 * things side by side: the version, the capabilities (names and order), the parameters (names and defaults), and
 * a list of settings QEMU accepts or refuses by rule, whose replies (or error texts) must be the same. Where
 * livemig answers differently on purpose (something it does not build), the difference is written out below.
 */
@Tag("qemu")
class QmpDialectAgainstQemuTest {
    @TempDir
    Path dir;

    @BeforeAll
    static void qemuInstalled() {
        assertTrue(QemuProcess.available(), "qemu-system-x86_64 is not on PATH: run ./test, which installs it");
    }

    /** One request, as JSON text: {"execute": ..., "arguments": ...}. */
    private static final List<String> PROBES = List.of(
            caps("mapped-ram", true), caps("mapped-ram", false),
            caps("dirty-limit", true),
            caps("dirty-limit", true, "auto-converge", true),
            caps("compress", true), caps("compress", false),
            caps("multifd", true, "xbzrle", true), caps("multifd", false, "xbzrle", false),
            caps("mapped-ram", true, "xbzrle", true),
            caps("switchover-ack", true),
            caps("zero-copy-send", true, "multifd", true), caps("zero-copy-send", false, "multifd", false),
            caps("background-snapshot", true, "validate-uuid", true),
            caps("postcopy-preempt", true),
            params("multifd-qatzip-level", "0"), params("multifd-qatzip-level", "10"),
            params("multifd-qatzip-level", "9"), params("multifd-qatzip-level", "1"),
            params("avail-switchover-bandwidth", "1000"), params("avail-switchover-bandwidth", "0"),
            params("zero-page-detection", "\"bogus\""),
            params("zero-page-detection", "\"legacy\""), params("zero-page-detection", "\"multifd\""),
            params("mode", "\"bogus\""),
            params("mode", "\"cpr-reboot\""), params("mode", "\"normal\""),
            params("direct-io", "true"), params("direct-io", "false"),
            params("vcpu-dirty-limit", "0"), params("vcpu-dirty-limit", "5"), params("vcpu-dirty-limit", "1"),
            params("x-vcpu-dirty-limit-period", "0"), params("x-vcpu-dirty-limit-period", "1001"),
            params("compress-level", "1"), params("block-incremental", "false"),
            params("multifd-compression", "\"qatzip\""),
            params("downtime-limit", "3000000"));

    /**
     * Replies livemig gives on purpose where QEMU differs, by probe and dialect.
     */
    private static final String BACKGROUND_SNAPSHOT_UNAVAILABLE = "GenericError: Background-snapshot is not supported by host kernel";

    /** Whether a QEMU run as this user may open a userfaultfd that handles kernel faults (root, or the sysctl allows it). */
    private static boolean qemuMayUseUserfaultfd() {
        try {
            boolean root = java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status")).stream()
                    .filter(l -> l.startsWith("Uid:")).findFirst().map(l -> l.split("\\s+")[2].equals("0")).orElse(false);
            java.nio.file.Path sysctl = java.nio.file.Path.of("/proc/sys/vm/unprivileged_userfaultfd");
            return root || (java.nio.file.Files.exists(sysctl) && java.nio.file.Files.readString(sysctl).strip().equals("1"));
        } catch (java.io.IOException e) {
            return true; // unknown: expect QEMU's own answer
        }
    }

    private static Map<String, String> deliberate(QemuVersion v) {
        Map<String, String> d = new LinkedHashMap<>();
        if (v == QemuVersion.V7_2) {
            // 7.2 knows no switchover-ack; livemig's 7.2 dialect has it (it implements it) and so applies its rule
            d.put(caps("switchover-ack", true), "GenericError: Capability 'switchover-ack' requires capability 'return-path'");
        }
        return d;
    }

    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void livemigAnswersAsTheQemuReleaseOfItsDialect(QemuVersion v) throws Exception {
        QmpDialect dialect = v == QemuVersion.V7_2 ? QmpDialect.QEMU_7_2 : QmpDialect.QEMU_10_0;
        Map<String, Json> qemu;
        try (QemuProcess q = QemuProcess.start(QemuOptions.paused("none").on(v))) {
            qemu = ask(q.qmp());
        }
        Map<String, Json> livemig;
        try (Machine m = Machine.builder(v.machineType("pc")).ram("pc.ram", 8 << 20).build();
             QmpServer server = QmpServer.builder(m).unix(dir.resolve("qmp.sock")).start();
             QmpClient c = QmpClient.connect(dir.resolve("qmp.sock"), QmpClient.DEFAULT_TIMEOUT)) {
            assertEquals(dialect, QmpDialect.forMachine(m.compat()), "a QEMU machine type answers as its release");
            Json.Obj version = c.greeting().get("QMP").orElseThrow().asObject().get("version").orElseThrow().asObject()
                    .get("qemu").orElseThrow().asObject();
            assertEquals(dialect.major(), version.number("major"));
            assertEquals(dialect.minor(), version.number("minor"));
            livemig = ask(c);
        }

        assertEquals(names(qemu.get("capabilities"), "capability", List.of()),
                names(livemig.get("capabilities"), "capability", v == QemuVersion.V7_2 ? List.of("switchover-ack") : List.of()),
                "capabilities, in QEMU's order (livemig's 7.2 dialect adds switchover-ack, which it implements)");
        assertEquals(members(qemu.get("parameters")), members(livemig.get("parameters")), "parameter names and defaults");
        Map<String, String> expected = deliberate(v);
        for (String probe : PROBES) {
            String want = expected.getOrDefault(probe, qemu.get(probe).asString());
            if (want.equals(BACKGROUND_SNAPSHOT_UNAVAILABLE) && !qemuMayUseUserfaultfd()) {
                // QEMU probes the host for write-protect faults with a kernel-mode userfaultfd, which an unprivileged
                // QEMU may not open here; livemig builds no background-snapshot and checks no host for it, so its
                // answer is the next rule in QEMU's table, the one QEMU gives where it may
                want = "GenericError: Background-snapshot is not compatible with validate-uuid";
            }
            assertEquals(want, livemig.get(probe).asString(), probe);
        }
        assertEquals(members(qemu.get("parameters after")), members(livemig.get("parameters after")),
                "the probes left the same state");
    }

    /** The same questions to either peer: version, lists, then each probe's reply. */
    private static Map<String, Json> ask(QmpClient c) throws Exception {
        Map<String, Json> out = new LinkedHashMap<>();
        out.put("capabilities", c.execute("query-migrate-capabilities"));
        out.put("parameters", c.execute("query-migrate-parameters"));
        for (String probe : PROBES) {
            Json.Obj req = JsonParser.parse(probe).asObject();
            Json reply;
            try {
                reply = new Json.Str("ok: " + c.execute(req.string("execute"), req.get("arguments").orElseThrow().asObject()));
            } catch (QmpError e) {
                reply = new Json.Str(e.errorClass() + ": " + e.desc());
            }
            out.put(probe, reply);
        }
        out.put("parameters after", c.execute("query-migrate-parameters"));
        return out;
    }

    /** QEMU lists an object's members in its own hash order: compared by name. */
    private static Map<String, Json> members(Json o) {
        Map<String, Json> m = new java.util.TreeMap<>();
        o.asObject().members().forEach(e -> m.put(e.name(), e.value()));
        return m;
    }

    private static List<String> names(Json list, String key, List<String> minus) {
        List<String> n = new ArrayList<>();
        for (Json j : list.asArray()) {
            n.add(j.asObject().string(key));
        }
        n.removeAll(minus);
        return n;
    }

    private static String caps(Object... nameState) {
        StringBuilder b = new StringBuilder("{\"execute\": \"migrate-set-capabilities\", \"arguments\": {\"capabilities\": [");
        for (int i = 0; i < nameState.length; i += 2) {
            b.append(i == 0 ? "" : ", ").append("{\"capability\": \"").append(nameState[i]).append("\", \"state\": ")
                    .append(nameState[i + 1]).append('}');
        }
        return b.append("]}}").toString();
    }

    private static String params(String name, String jsonValue) {
        return "{\"execute\": \"migrate-set-parameters\", \"arguments\": {\"" + name + "\": " + jsonValue + "}}";
    }
}
