package dev.livemig.qemu;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.*;

/** The postcopy benchmark's QEMU guest (scripts/bench-postcopy.sh): it boots and keeps writing every page it sweeps. */
@Tag("qemu")
class SweeperBootSectorTest {
    private static final long MIB = 1 << 20;

    @TempDir
    Path tmp;

    @Test
    void theSectorEndsInTheBootSignatureAndCarriesItsEndAddress() {
        byte[] s = SweeperBootSector.sweepingUpTo(64 * MIB);
        assertEquals(512, s.length);
        assertEquals((byte) 0x55, s[510]);
        assertEquals((byte) 0xaa, s[511]);
        assertEquals(64 * MIB, java.nio.ByteBuffer.wrap(s, SweeperBootSector.END_OFFSET, 4)
                .order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt());
        assertThrows(IllegalArgumentException.class, () -> SweeperBootSector.sweepingUpTo(1L << 32));
        assertEquals(3L << 30, SweeperBootSector.endFor(4L << 30), "a 4 GiB pc keeps 3 GiB below 4 GiB");
    }

    @Test
    void aPcGuestBootedFromItIncrementsTheFirstAndLastPageOfItsSweepAgainAndAgain() throws Exception {
        Path disk = Files.write(tmp.resolve("boot.img"), SweeperBootSector.sweepingUpTo(64 * MIB));
        var options = QemuOptions.paused("pc").withPaused(false).withMemory("64M")
                .withArgs("-drive", "file=" + disk + ",format=raw,if=ide").withStartTimeout(Duration.ofSeconds(60));
        try (QemuProcess q = QemuProcess.start(options)) {
            long last = 64 * MIB - 4096;
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            byte first0 = q.readGuestMemory(SweeperBootSector.START, 1)[0];
            byte last0 = q.readGuestMemory(last, 1)[0];
            byte beyond = q.readGuestMemory(SweeperBootSector.START + 4, 1)[0];
            while (q.readGuestMemory(SweeperBootSector.START, 1)[0] == first0 || q.readGuestMemory(last, 1)[0] == last0) {
                assertTrue(System.nanoTime() < deadline, "the sweep did not move within 30 s");
                Thread.sleep(50);
            }
            assertEquals(beyond, q.readGuestMemory(SweeperBootSector.START + 4, 1)[0], "only the first byte of a page is written");
        }
    }
}
