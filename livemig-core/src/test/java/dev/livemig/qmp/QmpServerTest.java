package dev.livemig.qmp;

import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RunState;
import dev.livemig.testing.Await;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetSocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Conversations with a QmpServer for an idle machine: protocol rules, every command, and their errors. */
class QmpServerTest {
    private static final Duration WAIT = Await.DEADLINE;

    @TempDir
    Path dir;

    private Machine machine;
    private QmpServer server;
    private Path socket;

    @BeforeEach
    void start() throws Exception {
        machine = Machine.builder("t").ram("ram", 1 << 20).initialState(RunState.RUNNING).build();
        socket = dir.resolve("qmp.sock");
        server = QmpServer.start(machine, socket, new InetSocketAddress("127.0.0.1", 0));
    }

    @AfterEach
    void stop() {
        server.close();
        machine.close();
    }

    @Test
    void tcpServesIpv6AddressesAsWellAsIpv4Ones() throws Exception {
        var v6 = new InetSocketAddress("::1", 0);
        try (var probe = java.nio.channels.ServerSocketChannel.open()) {
            probe.bind(v6);
        } catch (java.io.IOException e) {
            org.junit.jupiter.api.Assumptions.abort("host has no IPv6 loopback: " + e);
        }
        // once an UnsupportedAddressTypeException: the listener was opened for IPv4 only
        try (QmpServer six = QmpServer.start(machine, null, v6);
             QmpClient c = QmpClient.connect("tcp:[::1]:" + six.tcpAddress().getPort(), WAIT)) {
            assertEquals("running", c.execute("query-status").asObject().string("status"));
        }
    }

    private QmpClient client() throws Exception {
        return QmpClient.connect(socket, WAIT);
    }

    private RawQmp raw() throws Exception {
        return new RawQmp(UnixDomainSocketAddress.of(socket));
    }

    private static QmpError refused(QmpClient c, String command, String args) {
        return assertThrows(QmpError.class, () -> c.execute(command, args == null ? null
                : dev.livemig.json.JsonParser.parse(args).asObject()));
    }

    private static void assertGeneric(String desc, QmpError e) {
        assertEquals("GenericError", e.errorClass(), e.desc());
        assertEquals(desc, e.desc());
    }

    @Test
    void greetsInQemusShapeOverUnixAndTcp() throws Exception {
        String expected = "{\"QMP\":{\"version\":{\"qemu\":{\"micro\":0,\"minor\":2,\"major\":7},\"package\":\"livemig\"},\"capabilities\":[]}}";
        try (var unix = raw(); var tcp = new RawQmp(server.tcpAddress())) {
            assertJson(expected, unix.message());
            assertJson(expected, tcp.message());
            assertTrue(tcp.ask("{\"execute\": \"qmp_capabilities\"}").has("return"));
            assertEquals("running", tcp.ask("{\"execute\": \"query-status\"}").get("return").orElseThrow().asObject().string("status"));
        }
    }

    @Test
    void everyCommandWaitsForNegotiationAndNegotiationHappensOnce() throws Exception {
        try (var c = raw()) {
            c.message();
            for (String cmd : List.of("query-status", "no-such-command")) {
                Json.Obj r = c.ask("{\"execute\": \"" + cmd + "\", \"id\": \"x1\"}");
                assertEquals("CommandNotFound", RawQmp.errorClass(r));
                assertEquals("Expecting capabilities negotiation with 'qmp_capabilities'", RawQmp.desc(r));
                assertEquals("x1", r.string("id"), "the id is echoed on errors too");
            }
            Json.Obj ok = c.ask("{\"execute\": \"qmp_capabilities\", \"id\": 7}");
            assertJson("{\"return\":{},\"id\":7}", (ok));
            Json.Obj again = c.ask("{\"execute\": \"qmp_capabilities\"}");
            assertEquals("CommandNotFound", RawQmp.errorClass(again));
            assertEquals("Capabilities negotiation is already complete, command ignored", RawQmp.desc(again));
        }
    }

    @Test
    void oobIsNotOffered() throws Exception {
        try (var c = raw()) {
            c.message();
            Json.Obj r = c.ask("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}");
            assertEquals("Capability 'oob' not available", RawQmp.desc(r));
            assertTrue(c.ask("{\"execute\": \"qmp_capabilities\"}").has("return"), "still negotiable after the refusal");
        }
    }

    @Test
    void malformedMessagesAreRefusedAndTheSessionGoesOn() throws Exception {
        try (var c = raw().negotiated()) {
            assertEquals("JSON parse error, missing : in object pair", RawQmp.desc(c.ask("{\"execute\" \"query-status\"}")));
            assertEquals("QMP input must be a JSON object", RawQmp.desc(c.ask("42")));
            assertEquals("QMP input must be a JSON object", RawQmp.desc(c.ask("[\"query-status\"]")));
            assertEquals("QMP input lacks member 'execute'", RawQmp.desc(c.ask("{\"arguments\": {}}")));
            assertEquals("QMP input member 'execute' must be a string", RawQmp.desc(c.ask("{\"execute\": 1}")));
            assertEquals("QMP input member 'foo' is unexpected", RawQmp.desc(c.ask("{\"execute\": \"stop\", \"foo\": 1}")));
            assertEquals("QMP input member 'arguments' must be an object",
                    RawQmp.desc(c.ask("{\"execute\": \"stop\", \"arguments\": []}")));
            // a message split over writes and one with a brace inside a string are still one message each
            c.send("{\"execute\": \"query-");
            Thread.sleep(50); // most likely two reads for the server then; the answer must be the same if not
            Json.Obj split = c.ask("status\", \"id\": \"}{\"}");
            assertEquals("}{", split.string("id"));
            assertTrue(split.has("return"));
            assertEquals("GenericError", RawQmp.errorClass(c.ask("{\"execute\": \"stop\", \"arguments\": {\"x\": 1}}")));
            assertEquals("JSON parse error, duplicate key", RawQmp.desc(c.ask("{\"execute\": \"query-status\", \"execute\": \"quit\"}")));
            assertEquals("JSON parse error, duplicate key", RawQmp.desc(c.ask("{\"execute\": \"stop\", \"arguments\": {\"a\": [{\"b\": 1, \"b\": 2}]}}")));
            assertTrue(c.ask("{\"execute\": \"query-status\"}").has("return"), "still up after all that");
        }
    }

    @Test
    void jsonIsReadByQemusQmpRulesWithItsTexts() throws Exception {
        try (var c = raw().negotiated()) {
            Json.Obj zero = c.ask("{\"execute\": \"query-status\", \"id\": 01}");
            assertEquals("JSON parse error, stray '01'", RawQmp.desc(zero), "a leading zero is not JSON, and not echoed");
            assertFalse(zero.has("id"));
            assertEquals("JSON parse error, \\ud800 is not a valid Unicode character",
                    RawQmp.desc(c.ask("{\"execute\": \"query-status\", \"id\": \"\\ud800\"}")));
            var badUtf8 = new java.io.ByteArrayOutputStream();
            badUtf8.writeBytes("{\"execute\": \"query-status\", \"id\": \"".getBytes(StandardCharsets.US_ASCII));
            badUtf8.write(0xc3); // a lead byte without its continuation
            badUtf8.writeBytes("x\"}\n".getBytes(StandardCharsets.US_ASCII));
            c.send(badUtf8.toByteArray());
            assertEquals("JSON parse error, invalid UTF-8 sequence in string", RawQmp.desc(c.message()));
            Json.Obj single = c.ask("{'execute': 'query-status', 'id': 'it\\'s'}");
            assertTrue(single.has("return"), "single quotes, as QEMU reads them: " + single);
            assertEquals("it's", single.string("id"));
            // a control character ends what came before it: QMP's way to reset the server's parser
            c.send("{\"execute\": \"query-sta\u0001");
            assertEquals("JSON parse error, stray '\"query-sta\u0001'", RawQmp.desc(c.message()));
            assertTrue(c.ask("{\"execute\": \"query-status\"}").has("return"), "and the next message is read afresh");
        }
    }

    @Test
    void theEchoedIdIsStrictJsonWhateverItsSpelling() throws Exception {
        try (var c = raw().negotiated()) {
            for (String id : List.of("'single'", "\"\\u00e9\\/\"", "-0", "1.5e3", "1e400", "18446744073709551616",
                    "{'a': ['b', 1, null]}", "\"\\ud83d\\ude00\"", "'\\u0000'", "'say \"hi\"'")) {
                c.send("{\"execute\": \"query-status\", \"id\": " + id + "}\n");
                String reply = c.line();
                Json.Obj parsed = dev.livemig.json.JsonParser.parse(reply).asObject(); // strict JSON, or this throws
                assertTrue(parsed.has("return"), reply);
                assertEquals(dev.livemig.json.JsonParser.parse(id, dev.livemig.json.JsonParser.Syntax.QMP),
                        parsed.get("id").orElseThrow(), "id " + id + " came back as " + reply);
            }
        }
    }

    @Test
    void argumentsAreCheckedWithQemusTexts() throws Exception {
        try (var c = client()) {
            assertGeneric("Parameter 'x' is unexpected", refused(c, "query-status", "{\"x\": 1}"));
            assertGeneric("Parameter 'uri' is missing", refused(c, "migrate", "{}"));
            assertGeneric("Parameter 'uri' is missing", refused(c, "migrate", null));
            assertGeneric("Invalid parameter type for 'uri', expected: string", refused(c, "migrate", "{\"uri\": 5}"));
            assertGeneric("Invalid parameter type for 'detach', expected: boolean",
                    refused(c, "migrate", "{\"uri\": \"tcp:127.0.0.1:1\", \"detach\": \"yes\"}"));
            assertGeneric("Invalid parameter type for 'capabilities', expected: array",
                    refused(c, "migrate-set-capabilities", "{\"capabilities\": {}}"));
            QmpError unknown = refused(c, "no-such-command", null);
            assertEquals("CommandNotFound", unknown.errorClass());
            assertEquals("The command no-such-command has not been found", unknown.desc());
        }
    }

    @Test
    void anOversizedMessageClosesThatClientOnly() throws Exception {
        try (var big = raw().negotiated(); var other = client()) {
            big.send("{\"execute\": \"stop\", \"id\": \"" + "a".repeat(QmpServer.MAX_MESSAGE_BYTES) + "\"}\n");
            Json.Obj r = big.message();
            assertEquals("JSON message exceeds " + QmpServer.MAX_MESSAGE_BYTES
                    + " bytes, the largest this QMP server takes; the connection is closed", RawQmp.desc(r));
            assertEquals(RawQmp.EOF, big.line());
            Await.value("the refused message's bytes to be given back", server::bufferedBytes, b -> b == 0);
            assertEquals("running", ((Json.Obj) other.execute("query-status")).string("status"));
            // just under the cap is fine
            try (var fits = raw().negotiated()) {
                String id = "b".repeat(QmpServer.MAX_MESSAGE_BYTES - 100);
                Json.Obj ok = fits.ask("{\"execute\": \"query-status\", \"id\": \"" + id + "\"}");
                assertEquals(id, ok.string("id"));
            }
        }
    }

    @Test
    void versionCommandsAndStatus() throws Exception {
        try (var c = client()) {
            assertJson("{\"qemu\":{\"micro\":0,\"minor\":2,\"major\":7},\"package\":\"livemig\"}", (c.execute("query-version")));
            List<String> names = c.execute("query-commands").asArray().stream()
                    .map(j -> j.asObject().string("name")).toList();
            assertTrue(names.containsAll(List.of("qmp_capabilities", "query-version", "query-commands", "query-status",
                    "stop", "cont", "query-migrate", "migrate", "migrate_cancel", "migrate-continue",
                    "migrate-set-capabilities", "query-migrate-capabilities", "migrate-set-parameters",
                    "query-migrate-parameters", "quit", "migrate-incoming", "migrate-start-postcopy", "migrate-pause",
                    "migrate-recover", "calc-dirty-rate", "query-dirty-rate")), names.toString());
            assertJson("{\"status\":\"running\",\"running\":true,\"singlestep\":false}", (c.execute("query-status")));
        }
    }

    @Test
    void stopAndContChangeTheRunStateAndTellEveryClient() throws Exception {
        try (var a = client(); var b = client()) {
            assertJson("{}", (a.execute("stop")));
            assertEquals(RunState.PAUSED, machine.runState());
            assertJson("{\"status\":\"paused\",\"running\":false,\"singlestep\":false}", (b.execute("query-status")));
            Json.Obj stop = b.awaitEvent("STOP", WAIT);
            assertJson("{}", (stop.get("data").orElseThrow()));
            Json.Obj ts = stop.get("timestamp").orElseThrow().asObject();
            assertTrue(ts.number("seconds") > 1_700_000_000L && ts.number("microseconds") < 1_000_000);
            a.awaitEvent("STOP", WAIT);
            a.execute("stop"); // already stopped: silent, as in QEMU
            a.execute("cont");
            assertEquals(RunState.RUNNING, machine.runState());
            a.awaitEvent("RESUME", WAIT);
            b.awaitEvent("RESUME", WAIT);
            assertTrue(a.pendingEvents().isEmpty(), "one STOP and one RESUME only: " + a.pendingEvents());
        }
    }

    @Test
    void eventsGoOnlyToNegotiatedClients() throws Exception {
        try (var waiting = raw(); var c = client()) {
            assertTrue(waiting.message().has("QMP"));
            c.execute("stop");
            c.awaitEvent("STOP", WAIT);
            Json.Obj r = waiting.ask("{\"execute\": \"qmp_capabilities\"}");
            assertTrue(r.has("return"), "the first line after the greeting is the reply, no STOP before it: " + r);
        }
    }

    @Test
    void aClientVanishingMidMessageLeavesOthersAndTheServerAlone() throws Exception {
        try (var survivor = client()) {
            var crasher = raw().negotiated();
            crasher.send("{\"execute\": \"query-migrate-capa");
            crasher.close();
            var second = raw().negotiated();
            second.send("{\"execute\": \"stop\"}\n");
            second.close(); // gone before its reply and its STOP event are written
            survivor.awaitEvent("STOP", WAIT);
            survivor.execute("cont");
            survivor.awaitEvent("RESUME", WAIT);
            try (var late = client()) {
                assertEquals("running", ((Json.Obj) late.execute("query-status")).string("status"));
            }
        }
    }

    @Test
    void migrationCommandsBeforeAnyMigration() throws Exception {
        try (var c = client()) {
            assertJson("{}", (c.execute("query-migrate")));
            assertJson("{}", (c.execute("migrate_cancel")));
            assertGeneric("Enable postcopy with migrate_set_capability before the start of migration",
                    refused(c, "migrate-start-postcopy", null));
            c.execute("migrate-set-capabilities", caps("postcopy-ram", true));
            assertGeneric("Postcopy must be started after migration has been started", refused(c, "migrate-start-postcopy", null));
            c.execute("migrate-set-capabilities", caps("postcopy-ram", false));
            assertGeneric("Migration not in expected state: none", refused(c, "migrate-continue", "{\"state\": \"pre-switchover\"}"));
            assertGeneric("Parameter 'state' does not accept value 'nowhere'", refused(c, "migrate-continue", "{\"state\": \"nowhere\"}"));
            assertGeneric("Cannot resume if there is no paused migration",
                    refused(c, "migrate", "{\"uri\": \"tcp:127.0.0.1:1\", \"resume\": true}"));
            assertGeneric("Parameter 'uri' expects a valid migration protocol", refused(c, "migrate", "{\"uri\": \"carrier-pigeon:coop\"}"));
            assertGeneric("'-incoming' was not specified on the command line",
                    refused(c, "migrate-incoming", "{\"uri\": \"tcp:127.0.0.1:0\"}"));
            assertEquals("GenericError", refused(c, "migrate-incoming", "{}").errorClass(), "uri is required");
            assertGeneric("migrate-pause is currently only supported during postcopy-active or postcopy-recover state",
                    refused(c, "migrate-pause", null));
            assertGeneric("Migrate recover can only be run when postcopy is paused.",
                    refused(c, "migrate-recover", "{\"uri\": \"tcp:127.0.0.1:0\"}"));
            // QEMU 7.2 sets the migration up before it rejects the protocol: the status is failed, with no reason
            assertJson("{\"status\": \"failed\"}", (c.execute("query-migrate")), "as QEMU 7.2 answers");
        }
    }

    @Test
    void capabilitiesAreSetThroughTheConfigurationRules() throws Exception {
        try (var c = client()) {
            List<Json> all = c.execute("query-migrate-capabilities").asArray();
            assertEquals(dev.livemig.migration.QmpDialect.QEMU_7_2.capabilities().size(), all.size(), "a livemig machine answers as 7.2");
            assertTrue(all.stream().noneMatch(j -> j.asObject().get("state").orElseThrow().equals(Json.of(true))));
            c.execute("migrate-set-capabilities", caps("events", true, "return-path", true));
            assertEquals(List.of("events", "return-path"), enabled(c));
            c.execute("migrate-set-capabilities", caps("return-path", false));
            assertEquals(List.of("events"), enabled(c));
            assertGeneric("capability dirty-bitmaps is not built yet in livemig",
                    refused(c, "migrate-set-capabilities", JsonWriter.compact(caps("dirty-bitmaps", true))));
            assertGeneric("Parameter 'capability' does not accept value 'warp-drive'",
                    refused(c, "migrate-set-capabilities", JsonWriter.compact(caps("warp-drive", true))));
            assertGeneric("Parameter 'capabilities[0].state' is missing", refused(c, "migrate-set-capabilities",
                    "{\"capabilities\": [{\"capability\": \"events\"}]}"));
            assertGeneric("Invalid parameter type for 'capabilities[0].state', expected: boolean", refused(c, "migrate-set-capabilities",
                    "{\"capabilities\": [{\"capability\": \"events\", \"state\": 1}]}"));
            assertEquals("GenericError", refused(c, "migrate-set-capabilities",
                    JsonWriter.compact(caps("switchover-ack", true))).errorClass(), "switchover-ack needs return-path");
            assertEquals(List.of("events"), enabled(c), "a refused set changes nothing");
        }
    }

    @Test
    void parametersAreValidatedAsAWholeThenApplied() throws Exception {
        try (var c = client()) {
            Json.Obj p = (Json.Obj) c.execute("query-migrate-parameters");
            assertEquals(300, p.number("downtime-limit"));
            assertEquals(128L << 20, p.number("max-bandwidth"));
            c.execute("migrate-set-parameters", Json.object().put("downtime-limit", 500).put("max-bandwidth", 1L << 30).build());
            p = (Json.Obj) c.execute("query-migrate-parameters");
            assertEquals(500, p.number("downtime-limit"));
            assertEquals(1L << 30, p.number("max-bandwidth"));
            assertGeneric("Parameter 'downtime_limit' expects an integer in the range of 0 to (2000 * 1000) ms",
                    refused(c, "migrate-set-parameters", "{\"max-bandwidth\": 1000, \"downtime-limit\": 3000000}"));
            assertGeneric("Parameter 'downtime-limit' expects uint64",
                    refused(c, "migrate-set-parameters", "{\"downtime-limit\": \"fast\"}"));
            assertGeneric("Parameter 'warp-factor' is unexpected", refused(c, "migrate-set-parameters", "{\"warp-factor\": 9}"));
            // the rest as qemu-system-x86_64 7.2.22 words them (measured through its QMP socket)
            assertGeneric("Parameter 'cpu-throttle-initial' expects uint64",
                    refused(c, "migrate-set-parameters", "{\"cpu-throttle-initial\": \"x\"}"));
            assertGeneric("Parameter 'max-bandwidth' expects uint64", refused(c, "migrate-set-parameters", "{\"max-bandwidth\": 1.5}"));
            assertGeneric("Invalid parameter type for 'cpu-throttle-tailslow', expected: boolean",
                    refused(c, "migrate-set-parameters", "{\"cpu-throttle-tailslow\": 3}"));
            assertGeneric("Invalid parameter type for 'multifd-compression', expected: string",
                    refused(c, "migrate-set-parameters", "{\"multifd-compression\": 3}"));
            assertGeneric("Invalid parameter type for 'tls-creds', expected: StrOrNull",
                    refused(c, "migrate-set-parameters", "{\"tls-creds\": 3}"));
            assertGeneric("Parameter 'max_cpu_throttle' expects an integer in the range of cpu_throttle_initial to 99",
                    refused(c, "migrate-set-parameters", "{\"max-cpu-throttle\": 19}"));
            assertGeneric("Parameter 'xbzrle_cache_size' expects a power of two no less than the target page size",
                    refused(c, "migrate-set-parameters", "{\"xbzrle-cache-size\": 1000}"));
            assertEquals(1L << 30, ((Json.Obj) c.execute("query-migrate-parameters")).number("max-bandwidth"),
                    "nothing of a refused set is applied");
        }
    }

    @Test
    void quitAnswersAnnouncesAndClosesTheServer() throws Exception {
        try (var c = client(); var other = client()) {
            assertJson("{}", (c.execute("quit")));
            Json.Obj shutdown = other.awaitEvent("SHUTDOWN", WAIT);
            assertJson("{\"guest\":false,\"reason\":\"host-qmp-quit\"}", (shutdown.get("data").orElseThrow()));
            assertTrue(server.awaitClosed(WAIT));
            assertFalse(Files.exists(socket), "the socket file is removed");
        }
    }

    /** Compares with {@code expected} written in any spacing. */
    static void assertJson(String expected, Json actual) throws Exception {
        assertJson(expected, actual, null);
    }

    static void assertJson(String expected, Json actual, String message) throws Exception {
        assertEquals(JsonWriter.compact(dev.livemig.json.JsonParser.parse(expected)), JsonWriter.compact(actual), message);
    }

    static Json.Obj caps(Object... nameState) {
        var list = new java.util.ArrayList<Json>();
        for (int i = 0; i < nameState.length; i += 2) {
            list.add(Json.object().put("capability", (String) nameState[i]).put("state", (Boolean) nameState[i + 1]).build());
        }
        return Json.object().put("capabilities", new Json.Arr(list)).build();
    }

    private static List<String> enabled(QmpClient c) throws Exception {
        return c.execute("query-migrate-capabilities").asArray().stream().map(Json::asObject)
                .filter(o -> o.get("state").orElseThrow().equals(Json.of(true))).map(o -> o.string("capability")).toList();
    }
}
