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
            var corruption = dev.livemig.wire.Corruption.of(original, 16 << 10, random);
            byte[] bytes = corruption.bytes();
            String what = "case " + c + ": " + corruption.description();
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
