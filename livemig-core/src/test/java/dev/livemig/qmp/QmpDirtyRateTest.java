package dev.livemig.qmp;

import dev.livemig.json.Json;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;


import static org.junit.jupiter.api.Assertions.*;

/** calc-dirty-rate and query-dirty-rate as a QMP client sees them. */
class QmpDirtyRateTest {
    @AutoClose
    private final ServedMachine served = ServedMachine.start(16 << 20, null);

    QmpDirtyRateTest() throws Exception {
    }

    private static Json.Obj ret(Json.Obj reply) {
        return reply.get("return").orElseThrow(() -> new AssertionError("not a return: " + reply)).asObject();
    }

    @Test
    void aMeasurementGoesFromUnstartedThroughMeasuringToMeasured() throws Exception {
        try (var c = new RawQmp(served.tcp()).negotiated()) {
            QmpServerTest.assertJson("{\"status\":\"unstarted\",\"start-time\":0,\"calc-time\":0,\"sample-pages\":0,\"mode\":\"page-sampling\"}",
                    ret(c.ask("{\"execute\": \"query-dirty-rate\"}")));
            assertTrue(c.ask("{\"execute\": \"calc-dirty-rate\", \"arguments\": {\"calc-time\": 1, \"sample-pages\": 1024}}").has("return"));
            Json.Obj measuring = ret(c.ask("{\"execute\": \"query-dirty-rate\"}"));
            assertEquals("measuring", measuring.string("status"));
            assertFalse(measuring.has("dirty-rate"), "no figure before the end");
            assertEquals(1024, measuring.number("sample-pages"));
            assertEquals("the dirty rate is already being measured.",
                    RawQmp.desc(c.ask("{\"execute\": \"calc-dirty-rate\", \"arguments\": {\"calc-time\": 1}}")));
            Json.Obj done;
            do {
                Thread.sleep(100);
                done = ret(c.ask("{\"execute\": \"query-dirty-rate\"}"));
            } while (done.string("status").equals("measuring"));
            assertEquals("measured", done.string("status"));
            assertEquals(0, done.number("dirty-rate"), "nothing writes to this machine");
            assertEquals(1, done.number("calc-time"));
            assertEquals(measuring.number("start-time"), done.number("start-time"));
        }
    }

    @Test
    void argumentsAreCheckedAsQemuChecksThem() throws Exception {
        try (var c = new RawQmp(served.tcp()).negotiated()) {
            assertEquals("Parameter 'calc-time' is missing", RawQmp.desc(c.ask("{\"execute\": \"calc-dirty-rate\"}")));
            assertEquals("Invalid parameter type for 'calc-time', expected: integer",
                    RawQmp.desc(c.ask("{\"execute\": \"calc-dirty-rate\", \"arguments\": {\"calc-time\": \"1\"}}")));
            assertEquals("calc-time is out of range[1, 60].",
                    RawQmp.desc(c.ask("{\"execute\": \"calc-dirty-rate\", \"arguments\": {\"calc-time\": 0}}")));
            assertEquals("Parameter 'mode' does not accept value 'guess'",
                    RawQmp.desc(c.ask("{\"execute\": \"calc-dirty-rate\", \"arguments\": {\"calc-time\": 1, \"mode\": \"guess\"}}")));
            assertEquals("mode dirty-ring is not enabled, use other method instead.",
                    RawQmp.desc(c.ask("{\"execute\": \"calc-dirty-rate\", \"arguments\": {\"calc-time\": 1, \"mode\": \"dirty-ring\"}}")));
            assertEquals("sample-pages is used only in page-sampling mode", RawQmp.desc(c.ask(
                    "{\"execute\": \"calc-dirty-rate\", \"arguments\": {\"calc-time\": 1, \"mode\": \"dirty-bitmap\", \"sample-pages\": 512}}")));
            assertEquals("unstarted", ret(c.ask("{\"execute\": \"query-dirty-rate\"}")).string("status"));
        }
    }

    @Test
    void dirtyBitmapModeReportsNoSamplePagesOnceMeasured() throws Exception {
        try (var c = new RawQmp(served.tcp()).negotiated()) {
            assertTrue(c.ask("{\"execute\": \"calc-dirty-rate\", \"arguments\": {\"calc-time\": 1, \"mode\": \"dirty-bitmap\"}}").has("return"));
            assertTrue(RawQmp.desc(c.ask("{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"tcp:127.0.0.1:1\"}}"))
                    .contains("dirty-bitmap"), "no migration while the measurement holds dirty tracking");
            Json.Obj done;
            do {
                Thread.sleep(100);
                done = ret(c.ask("{\"execute\": \"query-dirty-rate\"}"));
            } while (done.string("status").equals("measuring"));
            assertEquals("dirty-bitmap", done.string("mode"));
            assertEquals(0, done.number("sample-pages"));
            assertEquals(0, done.number("dirty-rate"));
        }
    }
}
