package dev.livemig.cli;

import dev.livemig.migration.MigrationInfo;
import dev.livemig.migration.MigrationStatus;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** The `info migrate` summary at every stage shows the figures the reply carries, and only those. */
class ProgressLineTest {
    private static final MigrationInfo.RamStats RAM = new MigrationInfo.RamStats(9_437_184, 1_048_576, 16_777_216,
            1024, 2304, 9_437_184, 120, 812.5, 3, 8_388_608, 1_048_576, 25_000);

    @Test
    void noneAndSetupShowOnlyTheStatus() {
        assertEquals("Migration status: none\n",
                ProgressLine.summary(new MigrationInfo(MigrationStatus.NONE, -1, -1, -1, -1, null, null, 0)));
        assertEquals("Migration status: setup\n",
                ProgressLine.summary(new MigrationInfo(MigrationStatus.SETUP, -1, -1, -1, -1, null, null, 0)));
    }

    @Test
    void activeShowsExpectedDowntimeAndRamButNoDowntime() {
        String s = ProgressLine.summary(new MigrationInfo(MigrationStatus.ACTIVE, 1500, 12, -1, 40, RAM, null, 0));
        assertTrue(s.startsWith("""
                Migration status: active
                total time: 1500 ms
                expected downtime: 40 ms
                setup: 12 ms
                transferred ram: 9216 kbytes
                throughput: 812.50 mbps
                remaining ram: 1024 kbytes
                total ram: 16384 kbytes
                """), s);
        assertFalse(s.contains("\ndowntime:"), s);
    }

    @Test
    void completedShowsDowntimeAndNotTheEstimate() {
        String s = ProgressLine.summary(new MigrationInfo(MigrationStatus.COMPLETED, 2100, 12, 35, 40, RAM, null, 0));
        assertTrue(s.startsWith("Migration status: completed\ntotal time: 2100 ms\ndowntime: 35 ms\nsetup: 12 ms\n"), s);
    }

    @Test
    void compressionAndThrottleFiguresUseHmpsWording() {
        String s = ProgressLine.summary(new MigrationInfo(MigrationStatus.ACTIVE, 1500, 12, -1, 40, RAM, null, 30,
                new MigrationInfo.CompressionStats(1000, 250, 1_024_000)));
        assertTrue(s.endsWith("""
                compression pages: 1000 pages
                compression busy: 250
                compression busy rate: 0.20
                compressed size: 1000 kbytes
                compression rate: 4.00
                cpu throttle percentage: 30
                """), s);
    }

    @Test
    void xbzrleFiguresUseHmpsWording() {
        String s = ProgressLine.summary(new MigrationInfo(MigrationStatus.ACTIVE, 1500, 12, -1, 40, RAM, null, 0, null,
                new MigrationInfo.XbzrleStats(64L << 20, 40960, 1000, 1000, 7)));
        assertTrue(s.endsWith("""
                cache size: 67108864 bytes
                xbzrle transferred: 40 kbytes
                xbzrle pages: 1000 pages
                xbzrle cache miss: 1000 pages
                xbzrle cache miss rate: 0.50
                xbzrle encoding rate: 100.00
                xbzrle overflow: 7
                """), s);
    }

    @Test
    void aFailureCarriesItsReasonOnTheStatusLineAsHmpPrintsIt() {
        assertEquals("Migration status: failed (Connection refused)\n", ProgressLine.summary(
                new MigrationInfo(MigrationStatus.FAILED, -1, -1, -1, -1, null, "Connection refused", 0)));
    }

    @Test
    void theProgressLineShowsHowMuchIsDone() {
        String line = ProgressLine.render(new MigrationInfo(MigrationStatus.ACTIVE, 1500, 12, -1, 40, RAM, null, 0));
        assertTrue(line.startsWith("active       [#######################-]  94% pass 3 | sent 9.0 MiB, left 1.0 MiB"), line);
    }
}
