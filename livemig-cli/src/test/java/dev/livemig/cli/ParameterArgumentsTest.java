package dev.livemig.cli;

import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Command-line text becomes the JSON type QEMU 7.2's schema gives each parameter. */
class ParameterArgumentsTest {
    private static String typed(String name, String value) {
        return JsonWriter.compact(ParameterArguments.typed(name, value));
    }

    @Test
    void integersSizesBooleansAndStringsTakeTheirSchemaTypes() {
        assertEquals("500", typed("downtime-limit", "500"));
        assertEquals("1073741824", typed("max-bandwidth", "1G"));
        assertEquals("65536", typed("xbzrle-cache-size", "64k"));
        assertEquals("true", typed("cpu-throttle-tailslow", "on"));
        assertEquals("false", typed("block-incremental", "no"));
        assertEquals("\"zstd\"", typed("multifd-compression", "zstd"));
        assertEquals("\"123\"", typed("tls-hostname", "123"), "a string parameter stays a string even when it looks numeric");
    }

    @Test
    void aValueThatDoesNotFitIsSentAsTypedForTheServerToRefuse() {
        assertEquals("-1", typed("downtime-limit", "-1"));
        assertEquals("\"1G\"", typed("downtime-limit", "1G"), "only sizes take suffixes");
        assertEquals("\"lots\"", typed("max-bandwidth", "lots"));
        assertEquals("\"maybe\"", typed("cpu-throttle-tailslow", "maybe"));
    }

    @Test
    void anUnknownNameIsTypedByItsLook() {
        assertEquals("42", typed("avail-switchover-bandwidth", "42"));
        assertEquals("true", typed("some-flag", "on"));
        assertEquals("\"cpr-reboot\"", typed("mode", "cpr-reboot"));
    }

    @Test
    void theArgumentsKeepTheGivenOrder() {
        var given = new LinkedHashMap<String, String>();
        given.put("max-bandwidth", "1M");
        given.put("downtime-limit", "100");
        Json.Obj args = ParameterArguments.of(given);
        assertEquals("{\"max-bandwidth\": 1048576, \"downtime-limit\": 100}", JsonWriter.compact(args));
        assertEquals("{}", JsonWriter.compact(ParameterArguments.of(Map.of())));
    }
}
