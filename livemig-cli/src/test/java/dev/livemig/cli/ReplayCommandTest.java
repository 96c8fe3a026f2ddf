package dev.livemig.cli;

import dev.livemig.testing.CraftedStreams;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** `livemig replay` of a recording that lies about its RAM, or is not there. */
class ReplayCommandTest {
    @TempDir
    Path dir;

    @Test
    void aRecordingDeclaringMoreThanMaxRamIsRefusedBeforeAMachineIsMade() throws Exception {
        Path file = Files.write(dir.resolve("big.snap"), CraftedStreams.ramDeclaring("pc.ram", CraftedStreams.TIB));
        String err = CliRun.of("replay", file.toString(), "file:" + dir.resolve("out.snap"), "--max-ram", "512M").oneLineError();
        assertTrue(err.startsWith("livemig: stream declares more RAM than the ceiling: block=pc.ram declared=1099511627776 (1.0 TiB)"), err);
        assertTrue(err.contains("ceiling=536870912 (512.0 MiB)"), err);
        String eib = CliRun.of("replay", Files.write(dir.resolve("huge.snap"),
                CraftedStreams.ramDeclaring("pc.ram", CraftedStreams.FOUR_EIB)).toString(), "file:" + dir.resolve("o.snap")).oneLineError();
        assertTrue(eib.contains("declared=4611686018427387904 (4.0 EiB)"), eib);
    }

    @Test
    void aMissingRecordingIsNamedWithTheReason() {
        Path missing = dir.resolve("missing.snap");
        assertEquals("livemig: cannot read " + missing + ": no such file or directory",
                CliRun.of("replay", missing.toString(), "file:" + dir.resolve("o.snap")).oneLineError());
    }
}
