package dev.livemig.analyze;

import dev.livemig.wire.MigrationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.zip.GZIPInputStream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A QEMU 7.2 stream with bytes changed at random, mostly where headers, lengths, device sections and the
 * JSON trailer live: every way of reading it (state with memory, stats, extraction, multifd-free) either gives
 * an answer or a {@link MigrationException} with an offset; never another exception, never an allocation
 * sized by a corrupted length.
 */
class CorruptedStreamTest {
    private static final int CASES = 300;

    @TempDir
    Path dir;

    @Test
    void everyCorruptionIsAnAnswerOrAVerdictWithItsOffset() throws Exception {
        byte[] original;
        try (InputStream in = CorruptedStreamTest.class.getResourceAsStream("/analyze/pc.snap.gz")) {
            assertNotNull(in);
            original = new GZIPInputStream(in).readAllBytes();
        }
        var random = new SplittableRandom(20261202);
        int verdicts = 0;
        for (int c = 0; c < CASES; c++) {
            var corruption = dev.livemig.wire.Corruption.of(original, 64 << 10, random);
            byte[] bytes = corruption.bytes();
            String what = "case " + c + ": " + corruption.description();
            Path file = dir.resolve("corrupt.snap");
            Files.write(file, bytes);
            Path into = Files.createDirectories(dir.resolve("x" + c));
            for (String mode : List.of("state -m", "stats", "extract")) {
                try {
                    switch (mode) {
                        case "state -m" -> StreamDump.state(file, true);
                        case "stats" -> StreamDump.stats(file);
                        default -> StreamDump.extract(file, into, name -> { });
                    }
                } catch (MigrationException e) {
                    verdicts++;
                    assertTrue(e.getMessage().contains("offset="), what + " " + mode + ": " + e.getMessage());
                } catch (Throwable t) {
                    throw new AssertionError(what + " " + mode + " escaped as " + t, t);
                }
            }
        }
        assertTrue(verdicts > CASES / 3, "most corruptions of the structure are noticed: " + verdicts);
    }
}
