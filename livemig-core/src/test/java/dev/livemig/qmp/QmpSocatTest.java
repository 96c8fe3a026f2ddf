package dev.livemig.qmp;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParser;
import dev.livemig.testing.Await;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The server as a client it did not write sees it: Debian's socat pipes raw QMP lines in, as a shell script
 * would, and every answer it prints is checked. scripts/install-test-deps.sh installs socat; without it
 * these tests fail rather than skip.
 */
class QmpSocatTest {
    @AutoClose
    private final ServedMachine served;
    private final Path dir;

    QmpSocatTest(@TempDir Path dir) throws Exception {
        this.dir = dir;
        this.served = ServedMachine.start(4 << 20, dir.resolve("qmp.sock"));
    }

    /**
     * Runs socat with {@code lines} on its stdin and returns every JSON object it printed, in order, after
     * checking that there are {@code expected} of them. socat half-closes the connection at the end of its
     * input and then prints what the server sends until the server closes its side: after its answers (the
     * end of input is the end of the session) or after quit. socat's -t only bounds that wait for a server
     * that never closes, so it is as long as a test may wait; nothing depends on it passing.
     */
    private List<Json.Obj> socat(int expected, String address, String... lines) throws Exception {
        Path stdout = Files.createTempFile(dir, "socat", ".out");
        Path stderr = Files.createTempFile(dir, "socat", ".err");
        long waitSeconds = Await.DEADLINE.toSeconds();
        Process p;
        try {
            p = new ProcessBuilder("socat", "-t", Long.toString(waitSeconds), "-", address)
                    .redirectOutput(stdout.toFile()).redirectError(stderr.toFile()).start();
        } catch (IOException e) {
            throw new AssertionError("socat is needed (scripts/install-test-deps.sh installs it): " + e.getMessage(), e);
        }
        try (var in = p.getOutputStream()) {
            in.write((String.join("\n", lines) + "\n").getBytes(StandardCharsets.UTF_8));
        }
        boolean ended = p.waitFor(2 * waitSeconds, TimeUnit.SECONDS);
        if (!ended) {
            p.destroyForcibly().waitFor();
        }
        String out = Files.readString(stdout);
        String printed = "socat printed on stdout:\n" + out + "\non stderr:\n" + Files.readString(stderr);
        assertTrue(ended, "socat did not end; " + printed);
        assertEquals(0, p.exitValue(), "socat exit status; " + printed);
        List<Json.Obj> replies = new ArrayList<>();
        for (String line : out.split("\r?\n")) {
            if (!line.isBlank()) {
                try {
                    replies.add(JsonParser.parse(line).asObject());
                } catch (dev.livemig.json.JsonParseException | RuntimeException e) {
                    throw new AssertionError("not a JSON object: '" + line + "'; " + printed, e);
                }
            }
        }
        assertEquals(expected, replies.size(), "messages from the server; " + printed);
        return replies;
    }

    private static String desc(Json.Obj reply) {
        return reply.get("error").orElseThrow(() -> new AssertionError("not an error: " + reply)).asObject().string("desc");
    }

    @Test
    void aScriptedConversationOverTheUnixSocket() throws Exception {
        List<Json.Obj> r = socat(12, "UNIX-CONNECT:" + dir.resolve("qmp.sock"),
                "{\"execute\": \"query-status\"}",
                "{\"execute\": \"qmp_capabilities\", \"id\": \"neg\"}",
                "{\"execute\": \"query-version\", \"id\": 7}",
                "{\"execute\": \"stop\"}",
                "{\"execute\": \"no-such-command\"}",
                "not json at all }",
                "{\"execute\": \"migrate-set-parameters\", \"arguments\": {\"downtime-limit\": \"fast\"}}",
                "{\"execute\": \"migrate-set-parameters\", \"arguments\": {\"downtime-limit\": 2000001}}",
                "{\"execute\": \"migrate-set-capabilities\", \"arguments\": {\"capabilities\": "
                        + "[{\"capability\": \"switchover-ack\", \"state\": true}]}}",
                "{\"execute\": \"query-status\", \"id\": \"last\"}");
        assertEquals(7, r.getFirst().get("QMP").orElseThrow().asObject().get("version").orElseThrow()
                .asObject().get("qemu").orElseThrow().asObject().number("major"), "the greeting comes first");
        assertEquals("Expecting capabilities negotiation with 'qmp_capabilities'", desc(r.get(1)));
        assertEquals("neg", r.get(2).string("id"));
        assertEquals(7, r.get(3).number("id"));
        assertEquals("livemig", r.get(3).get("return").orElseThrow().asObject().string("package"));
        // as in QEMU, the event is emitted while stop runs, so it precedes the command's reply
        assertEquals("STOP", r.get(4).string("event"), r.toString());
        assertTrue(r.get(5).has("return"), r.toString());
        assertEquals("The command no-such-command has not been found", desc(r.get(6)));
        assertTrue(desc(r.get(7)).startsWith("JSON parse error, "), desc(r.get(7)));
        assertEquals("Parameter 'downtime-limit' expects uint64", desc(r.get(8)));
        assertEquals("Parameter 'downtime_limit' expects an integer in the range of 0 to (2000 * 1000) ms", desc(r.get(9)));
        assertEquals("Capability 'switchover-ack' requires capability 'return-path'", desc(r.get(10)));
        assertEquals("last", r.get(11).string("id"));
        assertEquals("paused", r.get(11).get("return").orElseThrow().asObject().string("status"));
    }

    @Test
    void aScriptedConversationOverTcpEndsWithQuit() throws Exception {
        // the greeting, three answers and the SHUTDOWN event, then the server closes the connection
        List<Json.Obj> r = socat(5, "TCP:127.0.0.1:" + served.tcp().getPort(),
                "{\"execute\": \"qmp_capabilities\"}",
                "{\"execute\": \"query-migrate-capabilities\"}",
                "{\"execute\": \"quit\"}");
        assertTrue(r.get(0).has("QMP"), r.toString());
        assertTrue(r.get(1).has("return"), r.toString());
        List<Json> caps = r.get(2).get("return").orElseThrow().asArray();
        assertTrue(caps.stream().anyMatch(c -> c.asObject().string("capability").equals("switchover-ack")), caps.toString());
        assertTrue(r.get(3).has("return"), "quit is answered");
        assertEquals("SHUTDOWN", r.get(4).string("event"), r.toString());
        assertTrue(served.server().awaitClosed(Await.DEADLINE), "the server went away after quit");
    }
}
