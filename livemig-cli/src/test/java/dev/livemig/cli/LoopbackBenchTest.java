package dev.livemig.cli;

import dev.livemig.json.JsonParser;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.*;

class LoopbackBenchTest {
    @Test
    void sendsEveryByteAndReportsOneJsonLine() throws Exception {
        PrintStream saved = System.out;
        var captured = new ByteArrayOutputStream();
        System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
        int status;
        try {
            var bench = new LoopbackBench();
            bench.size = (64L << 20) + 12345; // not a multiple of the chunk: the last write is partial
            status = bench.call();
        } finally {
            System.setOut(saved);
        }
        assertEquals(0, status);
        var line = JsonParser.parse(captured.toString(StandardCharsets.UTF_8).strip()).asObject();
        assertEquals("loopback-tcp", line.string("tool"));
        assertEquals((64L << 20) + 12345, line.number("bytes"), "the reader counted every byte sent");
        assertTrue(line.number("throughput_mib_s") > 0);
    }
}
