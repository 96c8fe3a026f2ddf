package dev.livemig.vmstate;

import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Each integer type's bytes, and how a loaded value is widened into a long. */
class VmStateTypeTest {
    private static byte[] write(VmStateType t, long v) throws MigrationException {
        var w = StreamWriter.inMemory();
        t.write(w, v);
        return w.toByteArray();
    }

    @Test
    void valuesAreWrittenBigEndianInTheTypesWidth() throws MigrationException {
        assertArrayEquals(Hex.bytes("ff"), write(VmStateType.INT8, -1));
        assertArrayEquals(Hex.bytes("1234"), write(VmStateType.UINT16, 0xabcd1234L));
        assertArrayEquals(Hex.bytes("fffffffe"), write(VmStateType.INT32_EQUAL, -2));
        assertArrayEquals(Hex.bytes("ffffffffffffffff"), write(VmStateType.TIMER, -1));
        assertArrayEquals(Hex.bytes("01"), write(VmStateType.BOOL, 7));
    }

    @Test
    void signedTypesSignExtendAndUnsignedOnesZeroExtend() throws MigrationException {
        assertEquals(-1, VmStateType.INT16.read(StreamReader.of(Hex.bytes("ffff"))));
        assertEquals(0xffff, VmStateType.UINT16.read(StreamReader.of(Hex.bytes("ffff"))));
        assertEquals(-1, VmStateType.INT32.read(StreamReader.of(Hex.bytes("ffffffff"))));
        assertEquals(0xffff_ffffL, VmStateType.UINT32.read(StreamReader.of(Hex.bytes("ffffffff"))));
        assertEquals(-1, VmStateType.UINT64.read(StreamReader.of(Hex.bytes("ffffffffffffffff"))));
    }

    @Test
    void anyNonZeroByteLoadsAsTrue() throws MigrationException {
        assertEquals(1, VmStateType.BOOL.read(StreamReader.of(Hex.bytes("80"))));
        assertEquals(0, VmStateType.BOOL.read(StreamReader.of(Hex.bytes("00"))));
    }
}
