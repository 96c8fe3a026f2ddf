package dev.livemig.vmstate;

import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Save then load gives back what was saved, for every type and shape; version gating keeps newer fields off the wire. */
class VmStateCodecProperties {
    static final class Cell {
        long value;
        long count;
        long[] values = new long[32];
        byte[] bytes = new byte[0];
    }

    private static <T> byte[] save(VmStateDescription<T> d, T object) throws MigrationException {
        var w = StreamWriter.inMemory();
        VmStateCodec.save(w, d, object);
        return w.toByteArray();
    }

    private static <T> void loadAll(byte[] bytes, VmStateDescription<T> d, T object, int version) throws MigrationException {
        var r = StreamReader.of(bytes);
        VmStateCodec.load(r, d, object, version);
        assertEquals(bytes.length, r.offset(), "every byte consumed");
    }

    @Property(tries = 500)
    void everyScalarTypeRoundTrips(@ForAll VmStateType type, @ForAll long value) throws MigrationException {
        long sent = type.check() == VmStateType.Check.AT_MOST_CURRENT ? Math.floorMod(value, 1L << 31) : value;
        var d = VmStateDescription.<Cell>builder("cell").scalar(type, "v", c -> c.value, (c, v) -> c.value = v).build();
        var source = new Cell();
        source.value = sent;
        byte[] bytes = save(d, source);
        assertEquals(type.size(), bytes.length);
        var dest = new Cell();
        dest.value = switch (type.check()) {
            case NONE -> 0;
            case EQUAL -> type.normalize(sent);
            case AT_MOST_CURRENT -> Integer.MAX_VALUE;
        };
        loadAll(bytes, d, dest, 0);
        assertEquals(type.normalize(sent), dest.value);
    }

    @Provide
    Arbitrary<VmStateType> plainTypes() {
        return Arbitraries.of(VmStateType.class).filter(t -> t.check() == VmStateType.Check.NONE);
    }

    @Property(tries = 300)
    void variableArraysOfEveryWidthRoundTrip(@ForAll("plainTypes") VmStateType type,
                                             @ForAll @Size(max = 32) List<Long> values) throws MigrationException {
        var d = VmStateDescription.<Cell>builder("cell")
                .uint8("count", c -> c.count, (c, v) -> c.count = v)
                .varray(type, "values", c -> c.count, 32, c -> c.values)
                .build();
        var source = new Cell();
        source.count = values.size();
        for (int i = 0; i < values.size(); i++) {
            source.values[i] = values.get(i);
        }
        byte[] bytes = save(d, source);
        assertEquals(1 + values.size() * type.size(), bytes.length);
        var dest = new Cell();
        loadAll(bytes, d, dest, 0);
        for (int i = 0; i < values.size(); i++) {
            assertEquals(type.normalize(values.get(i)), dest.values[i]);
        }
    }

    @Property(tries = 200)
    void fixedArraysRoundTrip(@ForAll("plainTypes") VmStateType type, @ForAll @IntRange(max = 32) int n,
                              @ForAll long seed) throws MigrationException {
        var d = VmStateDescription.<Cell>builder("cell").array(type, "values", n, c -> c.values).build();
        var source = new Cell();
        var rnd = new java.util.Random(seed);
        for (int i = 0; i < n; i++) {
            source.values[i] = rnd.nextLong();
        }
        var dest = new Cell();
        loadAll(save(d, source), d, dest, 0);
        for (int i = 0; i < n; i++) {
            assertEquals(type.normalize(source.values[i]), dest.values[i]);
        }
    }

    @Property(tries = 200)
    void buffersRoundTrip(@ForAll @Size(max = 64) byte[] bytes) throws MigrationException {
        var d = VmStateDescription.<Cell>builder("cell")
                .uint32("len", c -> c.bytes.length, (c, v) -> c.count = v)
                .vbuffer("data", c -> c.count, 64, c -> c.bytes, (c, b) -> c.bytes = b)
                .buffer("copy", bytes.length, c -> c.bytes)
                .build();
        var source = new Cell();
        source.bytes = bytes;
        source.count = bytes.length;
        var dest = new Cell();
        dest.bytes = new byte[bytes.length];
        byte[] wire = save(d, source);
        assertEquals(4 + 2 * bytes.length, wire.length);
        // the vbuffer is a fresh array, then the fixed buffer lands in place in it
        loadAll(wire, d, dest, 0);
        assertArrayEquals(bytes, dest.bytes);
    }

    @Property(tries = 300)
    void devicesWithStructsAndSubsectionsRoundTrip(@ForAll long seed) throws MigrationException {
        var source = Device.random(seed);
        var dest = new Device();
        loadAll(save(Device.VMSD, source), Device.VMSD, dest, Device.VMSD.versionId());
        assertEquals(source.state(), dest.state());
        assertEquals(1, dest.postLoads);
    }

    @Property(tries = 300)
    void fieldsNewerThanTheLoadedVersionAreNotOnTheWire(@ForAll @IntRange(max = 5) int version,
            @ForAll @Size(min = 1, max = 8) List<@IntRange(max = 5) Integer> since) throws MigrationException {
        VmStateDescription<Cell> older = gated(since, version);
        VmStateDescription<Cell> newest = gated(since, 5);
        var source = new Cell();
        Arrays.fill(source.values, 0x1234);
        byte[] bytes = save(older, source);
        long present = since.stream().filter(s -> s <= version).count();
        assertEquals(4 * present, bytes.length);
        var dest = new Cell();
        Arrays.fill(dest.values, -1);
        loadAll(bytes, newest, dest, version);
        for (int i = 0; i < since.size(); i++) {
            assertEquals(since.get(i) <= version ? 0x1234 : -1, dest.values[i], "field " + i + " since " + since.get(i));
        }
    }

    private static VmStateDescription<Cell> gated(List<Integer> since, int version) {
        var b = VmStateDescription.<Cell>builder("gated").version(version);
        for (int i = 0; i < since.size(); i++) {
            int k = i;
            b.uint32("f" + i, c -> c.values[k], (c, v) -> c.values[k] = v).since(since.get(i));
        }
        return b.build();
    }

    @Property(tries = 100)
    void existenceTestDecidesRegardlessOfVersion(@ForAll boolean exists) throws MigrationException {
        var d = VmStateDescription.<Cell>builder("cell").version(1)
                .uint16("v", c -> c.value, (c, v) -> c.value = v).since(9).onlyIf((c, v) -> exists)
                .build();
        var source = new Cell();
        source.value = 7;
        byte[] bytes = save(d, source);
        assertEquals(exists ? 2 : 0, bytes.length);
        var dest = new Cell();
        loadAll(bytes, d, dest, 1);
        assertEquals(exists ? 7 : 0, dest.value);
    }
}
