package dev.livemig.savevm;

import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The destination's side of "bad input gets a clear error": a snapshot of the test guest (RAM, a VMState device
 * with subsections and arrays, a live section, the trailer) with bytes changed at random, mostly in headers,
 * device sections and the trailer. Loading it into a fresh machine either succeeds or fails with a
 * {@link MigrationException} that names an offset; nothing else escapes.
 */
class CorruptedSnapshotTest {
    private static final int CASES = 400;

    @Test
    void everyCorruptionIsLoadedOrRefusedWithItsOffset() throws Exception {
        byte[] original;
        try (var source = new TestGuest().fill(5)) {
            source.machine.pause();
            original = SnapshotsTest.snapshot(source);
        }
        var random = new SplittableRandom(4242);
        int refused = 0;
        for (int c = 0; c < CASES; c++) {
            byte[] bytes = original.clone();
            StringBuilder what = new StringBuilder("case " + c + ":");
            for (int k = 1 + random.nextInt(3); k > 0; k--) {
                int at = switch (random.nextInt(3)) {
                    case 0 -> random.nextInt(4096);                                          // header, config, RAM setup
                    case 1 -> bytes.length - 1 - random.nextInt(Math.min(bytes.length, 16 << 10)); // devices, trailer
                    default -> random.nextInt(bytes.length);
                };
                int flip = 1 + random.nextInt(255);
                bytes[at] ^= (byte) flip;
                what.append(String.format(" byte 0x%x ^= 0x%02x", at, flip));
            }
            try (var target = new TestGuest()) {
                SnapshotsTest.load(target, StreamReader.of(bytes));
            } catch (MigrationException e) {
                refused++;
                assertTrue(e.getMessage().contains("offset="), what + ": " + e.getMessage());
            } catch (Throwable t) {
                throw new AssertionError(what + " escaped as " + t, t);
            }
        }
        // most flips land in page data or the trailer (which a load does not need): valid all the same
        assertTrue(refused >= CASES / 50, "corruptions reached the parser: " + refused + " refused");
    }
}
