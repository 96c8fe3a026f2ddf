package dev.livemig.migration;

import dev.livemig.wire.MigrationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.Arrays;
import java.util.Set;
import java.util.stream.Collectors;

import static dev.livemig.migration.MigrationParameter.Type.*;
import static org.junit.jupiter.api.Assertions.*;

/** Every parameter's QEMU 7.2 type, default, range and refusal text. */
class MigrationParameterTest {
    private static String refusal(MigrationParameter p, String value) {
        return assertThrows(MigrationException.class, () -> p.validate(value)).getMessage();
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', nullValues = "-", textBlock = """
            announce-initial           | SIZE   | 50        | 0    | 100000              | -
            announce-max               | SIZE   | 550       | 0    | 100000              | -
            announce-rounds            | SIZE   | 5         | 0    | 1000                | -
            announce-step              | SIZE   | 100       | 1    | 10000               | 0
            compress-level             | INT    | 1         | 0    | 9                   | -
            compress-threads           | INT    | 8         | 1    | 255                 | 0
            decompress-threads         | INT    | 2         | 1    | 255                 | 0
            throttle-trigger-threshold | INT    | 50        | 1    | 100                 | 0
            cpu-throttle-initial       | INT    | 20        | 1    | 99                  | 0
            cpu-throttle-increment     | INT    | 10        | 1    | 99                  | 0
            max-bandwidth              | SIZE   | 134217728 | 0    | 9223372036854775807 | -
            downtime-limit             | INT    | 300       | 0    | 2000000             | -
            multifd-channels           | INT    | 2         | 1    | 255                 | 0
            multifd-zlib-level         | INT    | 1         | 0    | 9                   | -
            multifd-zstd-level         | INT    | 1         | 0    | 20                  | -
            max-cpu-throttle           | INT    | 99        | 1    | 99                  | 0
            """)
    void rangedIntegers(String name, MigrationParameter.Type type, String dflt, long lo, long hi, String below)
            throws MigrationException {
        var p = MigrationParameter.byName(name);
        assertEquals(type, p.type());
        assertEquals(dflt, p.defaultValue());
        p.validate(dflt);
        assertEquals(lo, p.longValue(Long.toString(lo)));
        assertEquals(hi, p.longValue(Long.toString(hi)));
        // Past the top: QEMU's range text, or the uint8 width text where the range ends at 255.
        String above = refusal(p, Long.toString(hi + 1));
        String rangeText = "Parameter '" + name.replace('-', '_') + "' expects ";
        assertTrue(above.startsWith(rangeText) || above.equals("Parameter '" + name + "' expects uint8_t"), above);
        if (below != null) {
            assertTrue(refusal(p, below).startsWith(rangeText));
        }
        assertEquals("Invalid parameter type for '" + name + "', expected: integer", refusal(p, "ten"));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', textBlock = """
            announce-initial           | 100001  | Parameter 'announce_initial' expects a value between 0 and 100000
            announce-max               | 100001  | Parameter 'announce_max' expects a value between 0 and 100000
            announce-rounds            | 1001    | Parameter 'announce_rounds' expects a value between 0 and 1000
            announce-step              | 0       | Parameter 'announce_step' expects a value between 0 and 10000
            announce-step              | 10001   | Parameter 'announce_step' expects a value between 0 and 10000
            compress-level             | 10      | Parameter 'compress_level' expects a value between 0 and 9
            compress-threads           | 0       | Parameter 'compress_threads' expects a value between 1 and 255
            compress-threads           | 256     | Parameter 'compress-threads' expects uint8_t
            decompress-threads         | 0       | Parameter 'decompress_threads' expects a value between 1 and 255
            throttle-trigger-threshold | 101     | Parameter 'throttle_trigger_threshold' expects an integer in the range of 1 to 100
            cpu-throttle-initial       | 0       | Parameter 'cpu_throttle_initial' expects an integer in the range of 1 to 99
            cpu-throttle-initial       | 100     | Parameter 'cpu_throttle_initial' expects an integer in the range of 1 to 99
            cpu-throttle-increment     | 100     | Parameter 'cpu_throttle_increment' expects an integer in the range of 1 to 99
            max-cpu-throttle           | 0       | Parameter 'max_cpu_throttle' expects an integer in the range of cpu_throttle_initial to 99
            max-cpu-throttle           | 100     | Parameter 'max_cpu_throttle' expects an integer in the range of cpu_throttle_initial to 99
            max-bandwidth              | -1      | Parameter 'max_bandwidth' expects an integer in the range of 0 to 9223372036854775807 bytes/second
            downtime-limit             | 2000001 | Parameter 'downtime_limit' expects an integer in the range of 0 to (2000 * 1000) ms
            downtime-limit             | -1      | Parameter 'downtime_limit' expects an integer in the range of 0 to (2000 * 1000) ms
            multifd-channels           | 0       | Parameter 'multifd_channels' expects a value between 1 and 255
            multifd-channels           | -1      | Parameter 'multifd-channels' expects uint8_t
            multifd-zlib-level         | 10      | Parameter 'multifd_zlib_level' expects a value between 0 and 9
            multifd-zstd-level         | 21      | Parameter 'multifd_zstd_level' expects a value between 0 and 20
            xbzrle-cache-size          | 2048    | Parameter 'xbzrle_cache_size' expects a power of two no less than the target page size
            xbzrle-cache-size          | 12288   | Parameter 'xbzrle_cache_size' expects a power of two no less than the target page size
            x-checkpoint-delay         | 4294967296 | Parameter 'x-checkpoint-delay' expects uint32_t
            max-postcopy-bandwidth     | 18446744073709551616 | Invalid parameter type for 'max-postcopy-bandwidth', expected: integer
            """)
    void qemusRefusalTexts(String name, String value, String text) throws MigrationException {
        assertEquals(text, refusal(MigrationParameter.byName(name), value));
    }

    @Test
    void unboundedIntegers() throws MigrationException {
        var delay = MigrationParameter.X_CHECKPOINT_DELAY;
        assertEquals(INT, delay.type());
        assertEquals("20000", delay.defaultValue());
        assertEquals(0xFFFF_FFFFL, delay.longValue("4294967295"));
        var postcopy = MigrationParameter.MAX_POSTCOPY_BANDWIDTH;
        assertEquals(SIZE, postcopy.type());
        assertEquals("0", postcopy.defaultValue());
        assertEquals(-1L, postcopy.longValue("18446744073709551615"), "uint64 max fits, read unsigned");
        assertEquals(-1L, postcopy.longValue("-1"), "QEMU casts a negative integer to uint64");
    }

    @Test
    void xbzrleCacheSizeIsAPowerOfTwoFromOnePage() throws MigrationException {
        var p = MigrationParameter.XBZRLE_CACHE_SIZE;
        assertEquals(SIZE, p.type());
        assertEquals(Long.toString(64L << 20), p.defaultValue());
        assertEquals(4096, p.longValue("4096"));
        assertEquals(1L << 40, p.longValue(Long.toString(1L << 40)));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', textBlock = """
            compress-wait-thread  | true
            cpu-throttle-tailslow | false
            block-incremental     | false
            """)
    void booleans(String name, String dflt) throws MigrationException {
        var p = MigrationParameter.byName(name);
        assertEquals(BOOL, p.type());
        assertEquals(dflt, p.defaultValue());
        for (String yes : new String[] {"true", "on", "yes", "y"}) {
            assertTrue(p.booleanValue(yes));
        }
        for (String no : new String[] {"false", "off", "no", "n"}) {
            assertFalse(p.booleanValue(no));
        }
        assertEquals("Invalid parameter type for '" + name + "', expected: boolean", refusal(p, "1"));
    }

    @ParameterizedTest
    @EnumSource(value = MigrationParameter.class, names = {"TLS_CREDS", "TLS_HOSTNAME", "TLS_AUTHZ"})
    void stringsTakeAnyValueAndDefaultEmpty(MigrationParameter p) throws MigrationException {
        assertEquals(STRING, p.type());
        assertEquals("", p.defaultValue());
        p.validate("tls0");
        p.validate("");
    }

    @Test
    void multifdCompressionIsNoneZlibOrZstd() throws MigrationException {
        var p = MigrationParameter.MULTIFD_COMPRESSION;
        assertEquals(ENUM, p.type());
        assertEquals("none", p.defaultValue());
        for (String c : p.choices()) {
            p.validate(c);
        }
        assertEquals(Set.of("none", "zlib", "zstd"), Set.copyOf(p.choices()));
        assertEquals("Parameter 'multifd-compression' does not accept value 'qpl'", refusal(p, "qpl"));
    }

    @ParameterizedTest
    @EnumSource(MigrationParameter.class)
    void everyDefaultIsValidAndByNameFindsIt(MigrationParameter p) throws MigrationException {
        p.validate(p.defaultValue());
        assertSame(p, MigrationParameter.byName(p.qmpName()));
    }

    @Test
    void theListIsQemu72sAndQemu100s() {
        var names = Arrays.stream(MigrationParameter.values()).map(MigrationParameter::qmpName)
                .collect(Collectors.toSet());
        assertEquals(Set.of("downtime-limit", "max-bandwidth", "cpu-throttle-initial", "cpu-throttle-increment",
                "cpu-throttle-tailslow", "max-cpu-throttle", "throttle-trigger-threshold", "multifd-channels",
                "multifd-compression", "multifd-zlib-level", "multifd-zstd-level", "xbzrle-cache-size",
                "compress-level", "compress-threads", "compress-wait-thread", "decompress-threads",
                "max-postcopy-bandwidth", "announce-initial", "announce-max", "announce-rounds", "announce-step",
                "tls-creds", "tls-hostname", "tls-authz", "block-incremental", "x-checkpoint-delay",
                // QEMU 10.0's (QmpDialect lists which release has which)
                "avail-switchover-bandwidth", "direct-io", "mode", "multifd-qatzip-level", "vcpu-dirty-limit",
                "x-vcpu-dirty-limit-period", "zero-page-detection"), names);
    }

    @Test
    void unknownNamesAreRefused() {
        for (String name : new String[] {"modes", "downtime_limit", "avail_switchover_bandwidth"}) {
            var e = assertThrows(MigrationException.class, () -> MigrationParameter.byName(name));
            assertEquals("unknown parameter " + name, e.getMessage());
        }
    }
}
