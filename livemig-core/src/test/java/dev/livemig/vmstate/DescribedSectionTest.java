package dev.livemig.vmstate;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParser;
import dev.livemig.json.JsonWriter;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A device's trailer entry is enough to carry its bytes through unchanged; a bad entry is refused cleanly. */
class DescribedSectionTest {
    private static final byte[] NEXT_SECTION = {0x04, 0, 0, 0, 9};

    private static byte[] withTail(byte[] body) {
        byte[] b = Arrays.copyOf(body, body.length + NEXT_SECTION.length);
        System.arraycopy(NEXT_SECTION, 0, b, body.length, NEXT_SECTION.length);
        return b;
    }

    private static Json.Obj parse(String json) throws Exception {
        return JsonParser.parse(json).asObject();
    }

    @Property(tries = 300)
    void consumesExactlyWhatSaveWroteUsingTheJsonSaveReturned(@ForAll long seed) throws Exception {
        var w = StreamWriter.inMemory();
        Json.Obj vmsd = VmStateCodec.save(w, Device.VMSD, Device.random(seed));
        byte[] body = w.toByteArray();
        // as it would come out of a trailer: through text, inside a device object
        Json.Obj device = parse("{\"name\": \"0000:00:02.0/device\", \"instance_id\": 0, "
                + JsonWriter.compact(vmsd).substring(1));
        var r = StreamReader.of(withTail(body));
        assertArrayEquals(body, DescribedSection.read(r, device, body.length));
        assertEquals(body.length, r.offset());
    }

    @Test
    void walksStructArraysWithPerElementSubsections() throws Exception {
        var d = Device.random(7);
        for (Device.Slot s : d.slots) {
            s.busy = true;
        }
        d.extra = true;
        d.more = true;
        var w = StreamWriter.inMemory();
        Json.Obj vmsd = VmStateCodec.save(w, Device.VMSD, d);
        String text = JsonWriter.compact(vmsd);
        assertTrue(text.contains("\"index\": 2"), text);
        assertTrue(text.contains("\"vmsd_name\": \"device/extra/more\""), text);
        byte[] body = w.toByteArray();
        assertArrayEquals(body, DescribedSection.read(StreamReader.of(withTail(body)), vmsd, 1 << 20));
    }

    @Test
    void legacyDeviceIsOneOpaqueBuffer() throws Exception {
        var device = parse("{\"name\": \"slirp\", \"instance_id\": 0, \"size\": 5, "
                + "\"fields\": [{\"name\": \"data\", \"size\": 5, \"type\": \"buffer\"}]}");
        byte[] body = {1, 2, 3, 4, 5};
        assertArrayEquals(body, DescribedSection.read(StreamReader.of(withTail(body)), device, 100));
    }

    @Test
    void tmpFieldIsWalkedThroughItsInlineVmsd() throws Exception {
        var device = parse("{\"vmsd_name\": \"fpreg\", \"version\": 0, \"fields\": [{\"name\": \"tmp\", \"type\": \"tmp\", "
                + "\"vmsd_name\": \"fpreg_tmp\", \"version\": 0, \"fields\": [{\"name\": \"mant\", \"type\": \"uint64\", \"size\": 8}, "
                + "{\"name\": \"exp\", \"type\": \"uint16\", \"size\": 2}], \"size\": 10}]}");
        byte[] body = Hex.bytes("0102030405060708 090a");
        assertArrayEquals(body, DescribedSection.read(StreamReader.of(withTail(body)), device, 100));
    }

    @Test
    void compressedArraysTakeArrayLenTimesSize() throws Exception {
        var device = parse("{\"vmsd_name\": \"cpu\", \"version\": 1, \"fields\": ["
                + "{\"name\": \"env.regs\", \"array_len\": 3, \"type\": \"uint64\", \"size\": 8}, "
                + "{\"name\": \"env.fpregs\", \"array_len\": 2, \"type\": \"struct\", \"struct\": {\"vmsd_name\": \"fpreg\", "
                + "\"version\": 0, \"fields\": [{\"name\": \"x\", \"type\": \"uint16\", \"size\": 2}]}, \"size\": 2}]}");
        byte[] body = new byte[3 * 8 + 2 * 2];
        Arrays.fill(body, (byte) 0x55);
        var r = StreamReader.of(withTail(body));
        assertArrayEquals(body, DescribedSection.read(r, device, 100));
        assertEquals(body.length, r.offset());
    }

    private static MigrationException refused(String json, byte[] body, int maxBytes) throws Exception {
        Json.Obj description = parse(json);
        return assertThrows(MigrationException.class,
                () -> DescribedSection.read(StreamReader.of(withTail(body)), description, maxBytes));
    }

    private static void assertMentions(MigrationException e, String... parts) {
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), () -> "\"" + p + "\" missing from: " + e.getMessage());
        }
        assertTrue(e.offset() >= 0, e::getMessage);
    }

    @Test
    void rejectsNegativeMissingOrNonIntegerSizes() throws Exception {
        assertMentions(refused("{\"vmsd_name\": \"d\", \"fields\": [{\"name\": \"a\", \"type\": \"uint8\", \"size\": -1}]}",
                new byte[4], 100), "size is negative", "vmsd=d.a");
        assertMentions(refused("{\"vmsd_name\": \"d\", \"fields\": [{\"name\": \"a\", \"type\": \"uint8\"}]}",
                new byte[4], 100), "missing key=size", "vmsd=d.a");
        assertMentions(refused("{\"vmsd_name\": \"d\", \"fields\": [{\"name\": \"a\", \"type\": \"uint8\", \"size\": 1.5}]}",
                new byte[4], 100), "size is not an integer");
        assertMentions(refused("{\"vmsd_name\": \"d\", \"fields\": [{\"name\": \"a\", \"type\": \"uint8\", \"size\": \"1\"}]}",
                new byte[4], 100), "size is not an integer");
    }

    @Test
    void rejectsMissingFieldsAndNonObjectFields() throws Exception {
        assertMentions(refused("{\"vmsd_name\": \"d\"}", new byte[4], 100), "missing key=fields", "vmsd=d");
        assertMentions(refused("{\"vmsd_name\": \"d\", \"fields\": {}}", new byte[4], 100), "fields is not an array");
        assertMentions(refused("{\"vmsd_name\": \"d\", \"fields\": [7]}", new byte[4], 100), "field is not an object");
        assertMentions(refused("{\"vmsd_name\": \"d\", \"fields\": [{\"name\": \"s\", \"type\": \"struct\", \"size\": 1}]}",
                new byte[4], 100), "missing key=struct", "vmsd=d.s");
    }

    @Test
    void rejectsSizesBeyondTheLimitWithoutReadingThem() throws Exception {
        assertMentions(refused("{\"vmsd_name\": \"d\", \"fields\": [{\"name\": \"big\", \"type\": \"buffer\", \"size\": 9223372036854775807}]}",
                new byte[4], 1 << 20), "larger than the section limit", "field=d.big");
        assertMentions(refused("{\"vmsd_name\": \"d\", \"fields\": [{\"name\": \"r\", \"array_len\": 9223372036854775807, "
                + "\"type\": \"uint64\", \"size\": 8}]}", new byte[4], 1 << 20), "array_len=9223372036854775807");
        assertMentions(refused("{\"vmsd_name\": \"d\", \"fields\": [{\"name\": \"b\", \"type\": \"buffer\", \"size\": 6}]}",
                new byte[16], 5), "larger than the section limit", "max=5");
    }

    @Test
    void rejectsAWrongOrMissingSubsection() throws Exception {
        String json = "{\"vmsd_name\": \"d\", \"fields\": [], \"subsections\": [{\"vmsd_name\": \"d/x\", \"version\": 1, \"fields\": []}]}";
        var e = refused(json, Hex.bytes("05 03 \"d/y\" 00000001"), 100);
        assertMentions(e, "wrong subsection", "expected=d/x", "found=d/y");
        assertEquals(0, e.offset());
        assertMentions(refused(json, Hex.bytes("05 03 \"d/x\" 00000002"), 100), "subsection version differs", "described=1", "found=2");
        assertMentions(refused(json, Hex.bytes("04 03 \"d/x\" 00000001"), 100), "expected subsection", "byte=0x4");
        assertMentions(refused("{\"vmsd_name\": \"d\", \"fields\": [], \"subsections\": [{\"version\": 1, \"fields\": []}]}",
                Hex.bytes("05 03 \"d/x\" 00000001"), 100), "missing key=vmsd_name");
    }

    @Test
    void rejectsAStructWhoseFieldsDisagreeWithItsSize() throws Exception {
        assertMentions(refused("{\"vmsd_name\": \"d\", \"fields\": [{\"name\": \"s\", \"type\": \"struct\", \"struct\": "
                + "{\"vmsd_name\": \"s\", \"version\": 0, \"fields\": [{\"name\": \"x\", \"type\": \"uint32\", \"size\": 4}]}, "
                + "\"size\": 3}]}", new byte[8], 100), "structure size differs", "size=3", "read=4");
    }

    @Test
    void rejectsNestingDeeperThanTheLimit() throws Exception {
        String json = "{\"vmsd_name\": \"d\", \"fields\": []}";
        for (int i = 0; i < 70; i++) {
            json = "{\"vmsd_name\": \"d\", \"fields\": [{\"name\": \"s\", \"type\": \"struct\", \"struct\": " + json + ", \"size\": 0}]}";
        }
        assertMentions(refused(json, new byte[4], 100), "nested deeper");
    }

    @Test
    void rejectsADescriptionThatCostsFarMoreWorkThanItsBytes() throws Exception {
        var inner = new StringBuilder("{\"vmsd_name\": \"e\", \"version\": 0, \"fields\": [{\"name\": \"b\", \"type\": \"uint8\", \"size\": 1}");
        for (int i = 0; i < 2000; i++) {
            inner.append(", {\"name\": \"z\", \"type\": \"buffer\", \"size\": 0}");
        }
        inner.append("]}");
        String json = "{\"vmsd_name\": \"d\", \"fields\": [{\"name\": \"s\", \"array_len\": 1000, \"type\": \"struct\", "
                + "\"struct\": " + inner + ", \"size\": 1}]}";
        assertMentions(refused(json, new byte[1000], 1000), "too costly", "field=d.s.z");
    }

    @Test
    void truncatedStreamIsAMigrationException() throws Exception {
        Json.Obj description = parse("{\"vmsd_name\": \"d\", \"fields\": [{\"name\": \"a\", \"type\": \"uint64\", \"size\": 8}]}");
        var e = assertThrows(MigrationException.class,
                () -> DescribedSection.read(StreamReader.of(new byte[5]), description, 100));
        assertMentions(e, "truncated");
    }
}
