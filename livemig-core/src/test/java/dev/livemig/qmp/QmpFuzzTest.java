package dev.livemig.qmp;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.livemig.fuzz.SeedCorpus;
import dev.livemig.fuzz.UntrustedInput;
import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RunState;
import dev.livemig.migration.MigrationController;
import dev.livemig.migration.QmpDialect;
import dev.livemig.transport.MigrationUri;
import dev.livemig.wire.MigrationException;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * A QMP client's bytes: framed into messages as a session does, each parsed (QMP syntax) and dispatched to
 * a machine's command table. Property: the framer refuses only with its documented IOException (a message
 * over the cap), and every message gets a reply that is not an internal error (a handler's
 * RuntimeException, which the dispatcher turns into a reply). Commands that would reach outside the process
 * or outlive the input are left out (calc-dirty-rate runs for seconds, quit ends the server) or stop short:
 * migrate has its real parameters but only parses its URI (starting it would open sockets or, for exec:, run
 * a shell command), and migrate-incoming refuses as on a machine started without -incoming. Seeds: sessions a client such as libvirt has.
 */
class QmpFuzzTest {
    private static final Set<String> OUTSIDE = Set.of("calc-dirty-rate", "quit");
    private static final int CAP = 64 << 10;

    /**
     * The machine inputs are dispatched to. Making one per input cost most of an input's time (closing its
     * shared memory arena waits for every thread of the JVM), so one is kept while it is as built: the only
     * machine state a QMP command changes is the run state, and a machine whose run state an input moved is
     * replaced before the next input. Every input meets a new machine's state.
     */
    private static Machine machine;
    private static RunState built;

    private static Machine asBuilt() {
        if (machine != null && machine.runState() != built) {
            machine.close();
            machine = null;
        }
        if (machine == null) {
            machine = Machine.builder("livemig-fuzz").ram("pc.ram", 4096).build();
            built = machine.runState();
        }
        return machine;
    }

    @FuzzTest(maxDuration = "5s")
    void framesAndDispatchesMessages(byte[] input) {
        Machine machine = asBuilt();
        MigrationController controller;
        try {
            controller = MigrationController.builder(machine).dialect(QmpDialect.QEMU_10_0).build();
        } catch (MigrationException e) {
            throw new AssertionError("the default configuration is valid", e);
        }
        var commands = new MachineCommands(controller, () -> { });
        var dispatcher = new QmpDispatcher(commands.table().stream().filter(c -> !OUTSIDE.contains(c.name()))
                .map(c -> c.name().equals("migrate") ? new QmpCommand(c.name(), c.params(), QmpFuzzTest::parseUri) : c).toList());
        var framer = new MessageFramer(Channels.newChannel(new ByteArrayInputStream(input)), CAP, new ByteBudget(4L * CAP));
        UntrustedInput.parse(IOException.class, () -> {
            boolean negotiated = false;
            for (byte[] message; (message = framer.next()) != null; ) {
                QmpDispatcher.Reply reply = dispatcher.dispatch(message, negotiated);
                negotiated = reply.negotiated();
                if (reply.response().get("error").orElse(null) instanceof Json.Obj error) {
                    assertFalse(error.string("desc").startsWith("internal error"), () -> "a handler failed: " + error);
                }
                JsonWriter.compact(reply.response());
            }
        });
    }

    /** migrate up to the point where it would connect: its URI parsed, as the real command does first. */
    private static Json parseUri(Json.Obj arguments) throws QmpException {
        try {
            MigrationUri.parse(arguments.string("uri"));
        } catch (MigrationException e) {
            throw QmpException.generic(e.getMessage());
        }
        return Json.object().build();
    }

    @Test
    void corpusHoldsTheSeeds() throws Exception {
        SeedCorpus.check(QmpFuzzTest.class, "framesAndDispatchesMessages", Map.of(
                "negotiate-and-query", utf8("""
                        {"execute": "qmp_capabilities"}
                        {"execute": "query-status", "id": 1}
                        {"execute": "query-migrate-capabilities"}
                        {"execute": "query-migrate-parameters", "id": "p"}
                        {"execute": "query-commands"}
                        """),
                "configure-and-control", utf8("""
                        {'execute': 'qmp_capabilities', 'arguments': {'enable': []}}
                        {"execute": "migrate-set-capabilities", "arguments": {"capabilities": [{"capability": "xbzrle", "state": true}, {"capability": "events", "state": true}]}}
                        {"execute": "migrate-set-parameters", "arguments": {"downtime-limit": 500, "max-bandwidth": 1048576, "multifd-channels": 4, "multifd-compression": "zstd", "tls-creds": ""}}
                        {"execute": "stop"}{"execute": "cont"}
                        {"execute": "migrate_cancel"}
                        {"execute": "migrate-continue", "arguments": {"state": "pre-switchover"}}
                        {"execute": "query-migrate"}
                        {"execute": "migrate", "arguments": {"uri": "tcp:127.0.0.1:4444", "detach": true}}
                        {"execute": "migrate", "arguments": {"uri": "unix:/tmp/livemig.sock"}}
                        {"execute": "migrate", "arguments": {"uri": "exec:cat > /dev/null"}}
                        {"execute": "migrate", "arguments": {"uri": "file:/tmp/x.snap", "blk": false}}
                        {"execute": "migrate-incoming", "arguments": {"uri": "tcp:[::1]:0"}}
                        """),
                "malformed", utf8("""
                        {"execute": "query-status"}
                        [1, 2}
                        {"execute": 1}
                        \u0000 "\ud800" {"execute": "nope", "arguments": [], "extra": null}
                        """)));
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
