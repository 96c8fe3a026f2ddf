package dev.livemig.savevm;

import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Combinators;

import java.util.List;

/**
 * A valid snapshot stream with random bytes changed or a random cut is either loaded or rejected with a
 * MigrationException that carries an offset inside the stream; no other exception ever escapes, and no
 * allocation follows a corrupted length (the JVM runs with a 2 GiB heap: such a bug would show as an
 * OutOfMemoryError).
 */
class StreamCorruptionProperties {
    private static final byte[] STREAM;

    static {
        try (var guest = new TestGuest().fill(11)) {
            STREAM = SnapshotsTest.snapshot(guest);
        } catch (MigrationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    record Corruption(List<Integer> positions, List<Byte> values, int cut) {
        byte[] apply(byte[] stream) {
            byte[] b = java.util.Arrays.copyOf(stream, Math.min(cut, stream.length));
            for (int i = 0; i < positions.size(); i++) {
                if (positions.get(i) < b.length) {
                    b[positions.get(i)] = values.get(i);
                }
            }
            return b;
        }
    }

    @Provide
    Arbitrary<Corruption> corruptions() {
        var position = Arbitraries.integers().between(0, STREAM.length - 1);
        var value = Arbitraries.bytes();
        return Combinators.combine(position.list().ofMinSize(1).ofMaxSize(4), value.list().ofSize(4),
                Arbitraries.integers().between(1, STREAM.length).injectDuplicates(0.5).edgeCases(c -> c.add(STREAM.length)))
                .as(Corruption::new);
    }

    @Property(tries = 1500)
    void corruptedStreamsAreLoadedOrRejectedCleanly(@ForAll("corruptions") Corruption corruption) {
        byte[] bad = corruption.apply(STREAM);
        try (var target = new TestGuest()) {
            SnapshotsTest.load(target, StreamReader.of(bad));
        } catch (MigrationException e) {
            if (e.offset() > bad.length) {
                throw new AssertionError("offset outside the stream: " + e.getMessage());
            }
            if (e.getMessage().startsWith("state handler failed")) {
                throw new AssertionError("a codec let an unchecked exception out: " + e.getMessage(), e.getCause());
            }
        }
    }
}
