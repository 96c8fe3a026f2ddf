package dev.livemig.qmp;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParser;
import dev.livemig.migration.MigrationInfo;
import dev.livemig.migration.MigrationStatus;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** query-migrate's return value read back into a MigrationInfo: the inverse of MigrationInfo.toJson. */
class QueryMigrateReplyTest {
    private static final MigrationInfo.RamStats RAM = new MigrationInfo.RamStats(9_437_184, 1_048_576, 16_777_216,
            1024, 2304, 9_437_184, 120, 812.5, 3, 8_388_608, 1_048_576, 25_000, 4_194_304, 2);

    private static MigrationInfo parse(String json) throws Exception {
        return QueryMigrateReply.parse(JsonParser.parse(json).asObject());
    }

    /** Each as toJson can say it: no times without RAM figures, downtime only when completed, the other only before. */
    @Test
    void everyShapeOfReplyRoundTrips() throws Exception {
        for (MigrationInfo info : List.of(
                new MigrationInfo(MigrationStatus.NONE, -1, -1, -1, -1, null, null, 0),
                new MigrationInfo(MigrationStatus.SETUP, -1, -1, -1, -1, null, null, 0),
                new MigrationInfo(MigrationStatus.ACTIVE, 1500, 12, -1, 40, RAM, null, 0),
                new MigrationInfo(MigrationStatus.ACTIVE, 1500, 12, -1, 40, RAM, null, 45),
                new MigrationInfo(MigrationStatus.ACTIVE, 1500, 12, -1, 40, RAM, null, 0,
                        new MigrationInfo.CompressionStats(900, 3, 123456)),
                new MigrationInfo(MigrationStatus.ACTIVE, 1500, 12, -1, 40, RAM, null, 0, null,
                        new MigrationInfo.XbzrleStats(64L << 20, 4096, 300, 12, 2)),
                new MigrationInfo(MigrationStatus.COMPLETED, 2100, 12, 35, -1, RAM, null, 0),
                new MigrationInfo(MigrationStatus.COMPLETED, -1, -1, -1, -1, null, null, 0, null, null,
                        new MigrationInfo.PostcopyBlocktime(120, List.of(80L, 0L, 120L))),
                new MigrationInfo(MigrationStatus.FAILED, -1, -1, -1, -1, null, "Failed to connect", 0),
                new MigrationInfo(MigrationStatus.CANCELLED, -1, -1, -1, -1, null, null, 0))) {
            assertEquals(info, QueryMigrateReply.parse(info.toJson()), info.toString());
        }
    }

    @Test
    void anEndedUnsuccessfulMigrationReportsOnlyItsStatusAndReasonAsQemuDoes() throws Exception {
        var failed = new MigrationInfo(MigrationStatus.FAILED, 900, 12, -1, 40, RAM, "Connection reset by peer", 45);
        assertEquals("{\"status\": \"failed\", \"error-desc\": \"Connection reset by peer\"}",
                dev.livemig.json.JsonWriter.compact(failed.toJson()));
        var cancelled = new MigrationInfo(MigrationStatus.CANCELLED, 900, 12, -1, 40, RAM, null, 0);
        assertEquals("{\"status\": \"cancelled\"}", dev.livemig.json.JsonWriter.compact(cancelled.toJson()));
    }

    @Test
    void qemusMembersThatLivemigDoesNotModelAreSkipped() throws Exception {
        MigrationInfo info = parse("""
                {"expected-downtime": 300, "status": "active", "setup-time": 4, "total-time": 118,
                 "blocked-reasons": [], "xbzrle-cache": {"cache-size": 67108864, "bytes": 0},
                 "ram": {"total": 34144256, "postcopy-requests": 0, "dirty-sync-count": 1, "multifd-bytes": 0,
                         "pages-per-second": 0, "page-size": 4096, "remaining": 28082176, "mbps": 0,
                         "transferred": 6068229, "duplicate": 0, "dirty-pages-rate": 0, "skipped": 0,
                         "normal-bytes": 6053888, "normal": 1478}}""");
        assertEquals(MigrationStatus.ACTIVE, info.status());
        assertEquals(300, info.expectedDowntimeMs());
        assertEquals(-1, info.downtimeMs(), "not reported while active");
        assertEquals(6_068_229, info.ram().transferred());
        assertEquals(0, info.ram().precopyBytes(), "a QEMU without precopy-bytes reads as 0");
        assertEquals(0.0, info.ram().mbps());
    }

    @Test
    void membersOfTheWrongTypeAreRefusedByName() {
        assertEquals("query-migrate reply member status should be a string, not 3",
                assertThrows(IOException.class, () -> parse("{\"status\": 3}")).getMessage());
        assertEquals("query-migrate reply member total-time should be an integer, not \"1s\"",
                assertThrows(IOException.class, () -> parse("{\"status\": \"active\", \"total-time\": \"1s\"}")).getMessage());
        assertEquals("query-migrate reply member ram should be an object, not []",
                assertThrows(IOException.class, () -> parse("{\"status\": \"active\", \"ram\": []}")).getMessage());
        assertEquals("query-migrate reply member ram.transferred should be an integer, not 1.5",
                assertThrows(IOException.class, () -> parse("{\"status\": \"active\", \"ram\": {\"transferred\": 1.5}}")).getMessage());
        assertEquals("query-migrate reply member ram.mbps should be a number, not true",
                assertThrows(IOException.class, () -> parse("{\"status\": \"active\", \"ram\": {\"mbps\": true}}")).getMessage());
        assertEquals("query-migrate reply member error-desc should be a string, not null",
                assertThrows(IOException.class, () -> parse("{\"status\": \"failed\", \"error-desc\": null}")).getMessage());
        assertEquals("query-migrate reply has an unknown status 'paused'",
                assertThrows(IOException.class, () -> parse("{\"status\": \"paused\"}")).getMessage());
    }

    @Test
    void aDestinationsPostcopyBlocktimeReadsAsQemuWritesIt() throws Exception {
        MigrationInfo info = parse("{\"status\": \"completed\", \"postcopy-blocktime\": 12, \"postcopy-vcpu-blocktime\": [3, 12]}");
        assertEquals(new MigrationInfo.PostcopyBlocktime(12, List.of(3L, 12L)), info.postcopyBlocktime());
        assertEquals(null, parse("{\"status\": \"completed\"}").postcopyBlocktime(), "absent without the capability");
        assertEquals("query-migrate reply member postcopy-vcpu-blocktime should be an array of integers, not [-1]",
                assertThrows(IOException.class, () -> parse("{\"status\": \"completed\", \"postcopy-blocktime\": 1,"
                        + " \"postcopy-vcpu-blocktime\": [-1]}")).getMessage());
    }

    @Test
    void anEmptyReplyMeansNoMigrationYet() throws Exception {
        assertEquals(new MigrationInfo(MigrationStatus.NONE, -1, -1, -1, -1, null, null, 0), parse("{}"));
        assertEquals(Json.object().build(), parse("{}").toJson());
    }
}
