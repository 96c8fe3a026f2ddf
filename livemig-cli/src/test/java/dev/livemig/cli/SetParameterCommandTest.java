package dev.livemig.cli;

import dev.livemig.json.Json;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** `livemig set-parameter`: one migrate-set-parameters with the value typed per parameter; refusals in one line. */
class SetParameterCommandTest {
    @AutoClose
    private final QmpSource qmp;

    SetParameterCommandTest(@TempDir Path dir) throws Exception {
        this.qmp = new QmpSource(dir);
    }

    private CliRun set(String name, String value) {
        return CliRun.of("set-parameter", "--qmp", qmp.unix(), name, value);
    }

    private Json.Obj parameters() throws Exception {
        try (var c = qmp.client()) {
            return c.execute("query-migrate-parameters").asObject();
        }
    }

    @Test
    void integersAndSizesReachTheServerAsNumbers() throws Exception {
        assertEquals(0, set("downtime-limit", "750").status());
        assertEquals(0, set("max-bandwidth", "64M").status());
        assertEquals(750, parameters().number("downtime-limit"));
        assertEquals(64L << 20, parameters().number("max-bandwidth"));
    }

    /**
     * The server refuses parameters livemig does not use yet as not built, but only after checking the
     * member's JSON type and value as QEMU does, so that refusal shows the type was right.
     */
    @Test
    void booleansStringsAndEnumsPassTheServersTypeCheck() throws Exception {
        assertEquals(0, set("cpu-throttle-tailslow", "on").status());
        assertEquals(new dev.livemig.json.Json.Bool(true), parameters().get("cpu-throttle-tailslow").orElseThrow());
        assertEquals(0, set("multifd-compression", "zstd").status());
        assertEquals(dev.livemig.json.Json.of("zstd"), parameters().get("multifd-compression").orElseThrow());
        assertEquals(0, set("multifd-channels", "4").status());
        assertEquals(4, parameters().number("multifd-channels"));
        assertEquals("livemig: parameter block-incremental is not built yet in livemig (only its default false is accepted)",
                set("block-incremental", "yes").oneLineError());
        assertEquals(0, set("tls-creds", "tls0").status(), "a string: named credentials are looked up at migrate");
        assertEquals(dev.livemig.json.Json.of("tls0"), parameters().get("tls-creds").orElseThrow());
        assertEquals(0, set("block-incremental", "no").status(), "the default is a no-op");
        assertEquals(0, set("announce-rounds", "9").status(), "nothing to announce: inert");
        assertEquals(9, parameters().number("announce-rounds"));
    }

    @Test
    void eachRefusalIsTheServersTextOnOneLine() throws Exception {
        assertEquals("livemig: Parameter 'downtime_limit' expects an integer in the range of 0 to (2000 * 1000) ms",
                set("downtime-limit", "3000000").oneLineError());
        assertEquals("livemig: Parameter 'multifd-channels' expects uint8_t", set("multifd-channels", "256").oneLineError());
        assertEquals("livemig: Parameter 'downtime-limit' expects uint64",
                set("downtime-limit", "soon").oneLineError());
        assertEquals("livemig: Invalid parameter type for 'cpu-throttle-tailslow', expected: boolean",
                set("cpu-throttle-tailslow", "maybe").oneLineError());
        assertEquals("livemig: Parameter 'multifd-compression' does not accept value 'lz4'",
                set("multifd-compression", "lz4").oneLineError());
        assertEquals("livemig: Parameter 'warp-factor' is unexpected", set("warp-factor", "9").oneLineError());
        assertEquals(300, parameters().number("downtime-limit"), "nothing refused was kept");
    }

    @Test
    void anUnreachableServerIsOneLineWithoutAStackTrace() {
        assertEquals("livemig: cannot connect to QMP at tcp:127.0.0.1:1: Connection refused",
                CliRun.of("set-parameter", "--qmp", "tcp:127.0.0.1:1", "downtime-limit", "500").oneLineError());
    }
}
