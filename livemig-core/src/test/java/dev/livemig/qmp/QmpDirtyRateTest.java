package dev.livemig.qmp;

import dev.livemig.json.Json;
import dev.livemig.testing.Await;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;


import static org.junit.jupiter.api.Assertions.*;

/**
 * calc-dirty-rate and query-dirty-rate as a QMP client sees them. What is checked while a measurement runs is
 * checked within its calc-time of one second, the shortest QMP allows: one or two loopback round trips, which
 * take milliseconds even on a machine whose CPUs are busy with other processes.
 */
class QmpDirtyRateTest {
    @AutoClose
    private final ServedMachine served = ServedMachine.start(16 << 20, null);

    QmpDirtyRateTest() throws Exception {
    }

    private static Json.Obj ret(Json.Obj reply) {
        return reply.get("return").orElseThrow(() -> new AssertionError("not a return: " + reply)).asObject();
    }

    /** Polls query-dirty-rate until the measurement has ended; it must have ended measured. */
    private static Json.Obj measured(RawQmp c) throws Exception {
        Json.Obj done = Await.value("the measurement to end", () -> ret(c.ask("{\"execute\": \"query-dirty-rate\"}")),
                r -> !r.string("status").equals("measuring"));
        assertEquals("measured", done.string("status"), done.toString());
        return done;
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
            Json.Obj done = measured(c);
            assertEquals(0, done.number("dirty-rate"), "nothing writes to the served machine's RAM");
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
            Json.Obj done = measured(c);
            assertEquals("dirty-bitmap", done.string("mode"));
            assertEquals(0, done.number("sample-pages"));
            assertEquals(0, done.number("dirty-rate"));
        }
    }
}
