package dev.livemig.cli;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;

import static org.junit.jupiter.api.Assertions.*;

/** The command line as a user meets it: exit statuses and one-line errors. */
class CliTest {
    private record Run(int status, String out, String err) {
    }

    private static synchronized Run run(String... args) {
        PrintStream out = System.out;
        PrintStream err = System.err;
        var o = new ByteArrayOutputStream();
        var e = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(o, true));
            System.setErr(new PrintStream(e, true));
            int status = Main.run(args);
            return new Run(status, o.toString(), e.toString());
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }

    @Test
    void sizesAcceptQemuSuffixes() {
        assertEquals(1L << 30, Sizes.parse("1G"));
        assertEquals(512L << 20, Sizes.parse("512m"));
        assertEquals(4096, Sizes.parse("4096"));
        assertThrows(picocli.CommandLine.TypeConversionException.class, () -> Sizes.parse("lots"));
    }

    @Test
    void unbuiltCapabilitiesAndUnknownTransportsAreRefusedInOneLine() {
        Run cap = run("demo", "--ram", "1M", "--capability", "dirty-bitmaps");
        assertNotEquals(0, cap.status());
        assertEquals("livemig: capability dirty-bitmaps is not built yet in livemig", cap.err().strip());
        Run rule = run("demo", "--ram", "1M", "--capability", "switchover-ack");
        assertTrue(rule.err().contains("Capability 'switchover-ack' requires capability 'return-path'"), rule.err());
        Run param = run("demo", "--ram", "1M", "--parameter", "downtime-limit=-1");
        assertTrue(param.err().contains("downtime_limit"), param.err());
        Run transport = run("demo", "--ram", "1M", "--transport", "carrier-pigeon");
        assertTrue(transport.err().contains("unknown transport carrier-pigeon"), transport.err());
        Run inc = run("incoming", "rdma:127.0.0.1:4444", "--ram", "1M");
        assertTrue(inc.err().contains("transport rdma: is not supported"), inc.err());
        assertEquals(1, inc.err().strip().lines().count(), "one line, no stack trace");
        Run gate = run("incoming", "tcp:127.0.0.1:0", "--ram", "1M", "--handshake-timeout", "0");
        assertEquals("livemig: --handshake-timeout must be a positive number of milliseconds: 0", gate.err().strip());
    }

    @Test
    void badArgumentsAreUsageErrors() {
        Run r = run("demo", "--ram", "lots");
        assertNotEquals(0, r.status());
        assertTrue(r.err().contains("not a size"), r.err());
    }

    @Test
    void everySubcommandHasHelp() {
        for (String cmd : new String[] {"demo", "incoming", "bench"}) {
            Run r = run(cmd, "--help");
            assertEquals(0, r.status(), cmd);
            assertTrue(r.out().contains("Usage: livemig " + cmd), r.out());
        }
    }
}
