package dev.livemig.vmstate;

import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamWriter;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The vmsd JSON that {@link VmStateCodec#save} returns follows QEMU 7.2's schema (§5.3). */
class VmsdJsonTest {
    static final class Regs {
        long a;
        long[] values = {1, 2, 3};
        long count = 3;
        byte[] blob = {9, 9};
    }

    static final class Pair {
        long x;
        long y;
    }

    static final class Holder {
        List<Pair> pairs = List.of(new Pair(), new Pair());
        Pair single = new Pair();
        boolean flag;
    }

    private static <T> String json(VmStateDescription<T> d, T object) throws MigrationException {
        return JsonWriter.compact(VmStateCodec.save(StreamWriter.inMemory(), d, object));
    }

    private static Json.Obj field(String json, int i) throws Exception {
        return dev.livemig.json.JsonParser.parse(json).asObject().array("fields").get(i).asObject();
    }

    @Test
    void repeatedNamesGetTheirOrdinalAmongSameNamedDeclarations() throws Exception {
        var d = VmStateDescription.<Regs>builder("r").version(3)
                .uint8("a", r -> r.a, (r, v) -> r.a = v)
                .uint16("a", r -> r.a, (r, v) -> r.a = v).since(2)
                .uint32("b", r -> r.a, (r, v) -> r.a = v)
                .uint32("a", r -> r.a, (r, v) -> r.a = v).since(3)
                .build();
        String json = json(d, new Regs());
        assertEquals("{\"name\": \"a[0]\", \"type\": \"uint8\", \"size\": 1}", JsonWriter.compact(field(json, 0)));
        assertEquals("a[1]", field(json, 1).string("name"));
        assertEquals("b", field(json, 2).string("name"));
        assertEquals("a[2]", field(json, 3).string("name"));
    }

    @Test
    void compressibleArrayIsOneObjectWithArrayLenAndTheFirstElementSize() throws Exception {
        var d = VmStateDescription.<Regs>builder("r")
                .array(VmStateType.UINT64, "values", 3, r -> r.values)
                .build();
        assertEquals("{\"vmsd_name\": \"r\", \"version\": 0, \"fields\": ["
                + "{\"name\": \"values\", \"array_len\": 3, \"type\": \"uint64\", \"size\": 8}]}", json(d, new Regs()));
    }

    @Test
    void arrayWithAnExistenceTestGetsOneObjectPerElementWithIndex() throws Exception {
        var d = VmStateDescription.<Regs>builder("r")
                .array(VmStateType.UINT16, "values", 3, r -> r.values).onlyIf((r, v) -> true)
                .build();
        String json = json(d, new Regs());
        for (int i = 0; i < 3; i++) {
            assertEquals("{\"name\": \"values\", \"index\": " + i + ", \"type\": \"uint16\", \"size\": 2}",
                    JsonWriter.compact(field(json, i)));
        }
    }

    @Test
    void singleElementArrayHasNoArrayKeyAndEmptyArrayHasNoObject() throws Exception {
        var r = new Regs();
        r.count = 1;
        var d = VmStateDescription.<Regs>builder("r")
                .varray(VmStateType.INT32, "values", o -> o.count, 3, o -> o.values)
                .unused("pad", 3)
                .build();
        assertEquals("{\"vmsd_name\": \"r\", \"version\": 0, \"fields\": ["
                + "{\"name\": \"values\", \"type\": \"int32\", \"size\": 4}, "
                + "{\"name\": \"pad\", \"type\": \"unused_buffer\", \"size\": 3}]}", json(d, r));
        r.count = 0;
        assertEquals("{\"vmsd_name\": \"r\", \"version\": 0, \"fields\": ["
                + "{\"name\": \"pad\", \"type\": \"unused_buffer\", \"size\": 3}]}", json(d, r));
    }

    @Test
    void variableBufferIsABufferOfItsCurrentLength() throws Exception {
        var d = VmStateDescription.<Regs>builder("r")
                .vbuffer("blob", o -> o.blob.length, 8, o -> o.blob, (o, b) -> o.blob = b)
                .build();
        assertEquals("{\"name\": \"blob\", \"type\": \"buffer\", \"size\": 2}", JsonWriter.compact(field(json(d, new Regs()), 0)));
    }

    static final VmStateDescription<Pair> PLAIN_PAIR = VmStateDescription.<Pair>builder("pair").version(7)
            .uint8("x", p -> p.x, (p, v) -> p.x = v)
            .uint32("y", p -> p.y, (p, v) -> p.y = v)
            .build();

    @Test
    void structIsNestedVmsdObjectAndCompressibleStructArrayDescribesOnlyTheFirstElement() throws Exception {
        var d = VmStateDescription.<Holder>builder("h")
                .struct("single", PLAIN_PAIR, h -> h.single)
                .structArray("pairs", 2, PLAIN_PAIR, h -> h.pairs)
                .build();
        String pair = "{\"vmsd_name\": \"pair\", \"version\": 7, \"fields\": ["
                + "{\"name\": \"x\", \"type\": \"uint8\", \"size\": 1}, {\"name\": \"y\", \"type\": \"uint32\", \"size\": 4}]}";
        assertEquals("{\"vmsd_name\": \"h\", \"version\": 0, \"fields\": ["
                + "{\"name\": \"single\", \"type\": \"struct\", \"struct\": " + pair + ", \"size\": 5}, "
                + "{\"name\": \"pairs\", \"array_len\": 2, \"type\": \"struct\", \"struct\": " + pair + ", \"size\": 5}]}",
                json(d, new Holder()));
    }

    @Test
    void structWithSubsectionsIsNotCompressedEvenWhenNoneIsWritten() throws Exception {
        var pair = VmStateDescription.<Pair>builder("pair")
                .uint8("x", p -> p.x, (p, v) -> p.x = v)
                .subsection(VmStateDescription.<Pair>builder("pair/y").uint8("y", p -> p.y, (p, v) -> p.y = v).build(),
                        p -> p.y != 0)
                .build();
        var h = new Holder();
        h.pairs.get(1).y = 5;
        var d = VmStateDescription.<Holder>builder("h").structArray("pairs", 2, pair, o -> o.pairs).build();
        String json = json(d, h);
        assertEquals("{\"name\": \"pairs\", \"index\": 0, \"type\": \"struct\", \"struct\": {\"vmsd_name\": \"pair\", "
                + "\"version\": 0, \"fields\": [{\"name\": \"x\", \"type\": \"uint8\", \"size\": 1}]}, \"size\": 1}",
                JsonWriter.compact(field(json, 0)));
        assertEquals("{\"name\": \"pairs\", \"index\": 1, \"type\": \"struct\", \"struct\": {\"vmsd_name\": \"pair\", "
                + "\"version\": 0, \"fields\": [{\"name\": \"x\", \"type\": \"uint8\", \"size\": 1}], \"subsections\": ["
                + "{\"vmsd_name\": \"pair/y\", \"version\": 0, \"fields\": [{\"name\": \"y\", \"type\": \"uint8\", \"size\": 1}]}]}, "
                + "\"size\": 14}", JsonWriter.compact(field(json, 1)));
    }

    @Test
    void structWhoseFieldHasAnExistenceTestIsNotCompressed() throws Exception {
        var pair = VmStateDescription.<Pair>builder("pair")
                .uint8("x", p -> p.x, (p, v) -> p.x = v).onlyIf((p, v) -> true)
                .build();
        var d = VmStateDescription.<Holder>builder("h").structArray("pairs", 2, pair, o -> o.pairs).build();
        String json = json(d, new Holder());
        assertEquals(0, field(json, 0).number("index"));
        assertEquals(1, field(json, 1).number("index"));
    }

    @Test
    void everyTypeHasQemusTypeName() throws Exception {
        var b = VmStateDescription.<Regs>builder("r");
        for (VmStateType t : VmStateType.values()) {
            b.scalar(t, t.name(), o -> 0, (o, v) -> { });
        }
        String json = json(b.build(), new Regs());
        var names = new StringBuilder();
        for (int i = 0; i < VmStateType.values().length; i++) {
            Json.Obj f = field(json, i);
            names.append(f.string("type")).append('/').append(f.number("size")).append(' ');
        }
        assertEquals("bool/1 int8/1 int16/2 int32/4 int64/8 uint8/1 uint16/2 uint32/4 uint64/8 int32 equal/4 "
                + "uint32 equal/4 int64 equal/8 uint8 equal/1 uint16 equal/2 int32 le/4 timer/8 ", names.toString());
    }
}
