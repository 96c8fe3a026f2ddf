package dev.livemig.vmstate;

import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every refused load is a MigrationException naming the vmsd or field and the offset of the fault. */
class VmStateErrorsTest {
    private static final int BLOB_LEN_AT = 5; // count (4) + enabled (1) when count is 0
    private static final int EXTRA_AT = 60; // after the fields of a device with count 0, empty blob, idle slots

    private static Device plain() {
        var d = new Device();
        d.enabled = true;
        d.extra = true;
        d.extraValue = 42;
        return d;
    }

    private static byte[] save(Device d) throws MigrationException {
        var w = StreamWriter.inMemory();
        VmStateCodec.save(w, Device.VMSD, d);
        return w.toByteArray();
    }

    private static MigrationException loadFails(byte[] bytes, int version) {
        return assertThrows(MigrationException.class,
                () -> VmStateCodec.load(StreamReader.of(bytes), Device.VMSD, new Device(), version));
    }

    private static void assertMentions(MigrationException e, String... parts) {
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), () -> "\"" + p + "\" missing from: " + e.getMessage());
        }
    }

    @Test
    void versionAboveTheLocalOneIsTooNew() throws MigrationException {
        var e = loadFails(save(plain()), 5);
        assertMentions(e, "too new", "vmsd=device", "version=5", "local_version=4", "offset=0x0");
    }

    @Test
    void versionBelowTheMinimumIsTooOld() throws MigrationException {
        var e = loadFails(save(plain()), 1);
        assertMentions(e, "too old", "vmsd=device", "version=1", "minimum_version=2");
        assertEquals(0, e.offset());
    }

    @Test
    void subsectionVersionAboveItsLocalOneIsTooNew() throws MigrationException {
        byte[] bytes = save(plain());
        int versionAt = EXTRA_AT + 2 + "device/extra".length();
        bytes[versionAt + 3] = 3;
        var e = loadFails(bytes, 4);
        assertMentions(e, "too new", "vmsd=device/extra", "version=3", "local_version=2");
        assertEquals(versionAt + 4, e.offset());
    }

    @Test
    void unknownSubsectionStartingWithTheParentNameFailsNamingIt() throws MigrationException {
        byte[] bytes = save(plain());
        assertEquals(0x05, bytes[EXTRA_AT]);
        bytes[EXTRA_AT + 2 + "device/extr".length()] = 'b';
        var e = loadFails(bytes, 4);
        assertMentions(e, "unknown subsection", "vmsd=device", "subsection=device/extrb");
        assertEquals(EXTRA_AT, e.offset());
    }

    @Test
    void subsectionOfAnotherParentIsLeftUnreadForTheCaller() throws MigrationException {
        byte[] bytes = save(plain());
        bytes[EXTRA_AT + 2] = 'D';
        var r = StreamReader.of(bytes);
        var d = new Device();
        VmStateCodec.load(r, Device.VMSD, d, 4);
        assertEquals(EXTRA_AT, r.offset());
        assertEquals(0, d.extraValue);
    }

    @Test
    void subsectionMarkerWithANameTooShortIsLeftUnreadForTheCaller() throws MigrationException {
        byte[] fields = Arrays.copyOf(save(plain()), EXTRA_AT);
        byte[] bytes = ByteBuffer.allocate(EXTRA_AT + 8).put(fields).put(new byte[] {5, 6})
                .put("device".getBytes(StandardCharsets.US_ASCII)).array();
        var r = StreamReader.of(bytes);
        VmStateCodec.load(r, Device.VMSD, new Device(), 4);
        assertEquals(EXTRA_AT, r.offset());
    }

    @Test
    void equalFieldThatDiffersFromTheDestinationFails() throws MigrationException {
        var d = VmStateDescription.<Device>builder("e")
                .equal(VmStateType.UINT32_EQUAL, "magic", o -> o.count)
                .build();
        var source = new Device();
        source.count = 0xcafe;
        var w = StreamWriter.inMemory().u8(0);
        VmStateCodec.save(w, d, source);
        var r = StreamReader.of(w.toByteArray());
        r.skip(1);
        var e = assertThrows(MigrationException.class, () -> VmStateCodec.load(r, d, new Device(), 0));
        assertMentions(e, "field=e.magic", "loaded=0xcafe", "current=0x0");
        assertEquals(1, e.offset());
    }

    @Test
    void int32LeAboveTheCurrentValueFails() throws MigrationException {
        var d = VmStateDescription.<Device>builder("le").int32Le("used", o -> o.count, (o, v) -> o.count = v).build();
        var source = new Device();
        source.count = 9;
        var w = StreamWriter.inMemory();
        VmStateCodec.save(w, d, source);
        var dest = new Device();
        dest.count = 8;
        var e = assertThrows(MigrationException.class, () -> VmStateCodec.load(StreamReader.of(w.toByteArray()), d, dest, 0));
        assertMentions(e, "field=le.used", "loaded=9", "current=8", "offset=0x0");
    }

    @Test
    void variableArrayLengthAboveItsMaximumFailsBeforeReadingIt() throws MigrationException {
        byte[] bytes = save(plain());
        bytes[3] = (byte) (Device.MAX_REGS + 1);
        var e = loadFails(bytes, 4);
        assertMentions(e, "array length out of range", "field=device.regs", "length=17", "max=16");
        assertEquals(4, e.offset());
    }

    @Test
    void variableBufferLengthAboveItsMaximumFailsBeforeAllocating() throws MigrationException {
        byte[] bytes = save(plain());
        ByteBuffer.wrap(bytes).putInt(BLOB_LEN_AT, Integer.MAX_VALUE);
        var e = loadFails(bytes, 4);
        assertMentions(e, "buffer length out of range", "field=device.blob", "length=2147483647", "max=64");
        assertEquals(BLOB_LEN_AT + 4, e.offset());
    }

    @Test
    void negativeVariableBufferLengthFails() throws MigrationException {
        byte[] bytes = save(plain());
        ByteBuffer.wrap(bytes).putInt(BLOB_LEN_AT, -1);
        assertMentions(loadFails(bytes, 4), "buffer length out of range", "field=device.blob", "length=-1");
    }

    @Test
    void truncationNamesTheFieldElementAndItsOffset() throws MigrationException {
        var d = plain();
        d.count = 5;
        byte[] bytes = Arrays.copyOf(save(d), 9);
        var e = loadFails(bytes, 4);
        assertMentions(e, "truncated", "field=device.regs[2]", "offset=0x8");
        assertEquals(8, e.offset());
    }

    @Test
    void truncationInsideANestedStructNamesThePath() throws MigrationException {
        byte[] bytes = Arrays.copyOf(save(plain()), 57); // slots start at 54, two bytes each
        assertMentions(loadFails(bytes, 4), "field=device.slots[1].busy", "offset=0x39");
    }

    @Test
    void truncationInASubsectionHeaderNamesTheSubsection() throws MigrationException {
        byte[] bytes = Arrays.copyOf(save(plain()), EXTRA_AT + 2 + "device/extra".length() + 2);
        assertMentions(loadFails(bytes, 4), "truncated", "field=device/extra(version)");
    }

    @Test
    void failingPostLoadHookIsReportedWithItsVmsdAndOffset() throws MigrationException {
        var d = VmStateDescription.<Device>builder("hooked")
                .uint8("bias", o -> o.bias, (o, v) -> o.bias = v)
                .postLoad((o, v) -> {
                    throw new MigrationException("bias out of range");
                })
                .build();
        var e = assertThrows(MigrationException.class, () -> VmStateCodec.load(StreamReader.of(new byte[] {3}), d, new Device(), 0));
        assertMentions(e, "post_load failed", "vmsd=hooked", "bias out of range", "offset=0x1");
    }

    @Test
    void savingAnArrayShorterThanItsCountFails() {
        var d = plain();
        d.count = 3;
        d.regs = new long[2];
        var e = assertThrows(MigrationException.class, () -> save(d));
        assertMentions(e, "array too short", "field=device.regs", "length=3", "capacity=2");
    }
}
