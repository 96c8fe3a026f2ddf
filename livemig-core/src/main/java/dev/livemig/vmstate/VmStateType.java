package dev.livemig.vmstate;

import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;

/**
 * The integer-valued VMState info types of §4.2, with the name the JSON trailer gives them. Values travel in
 * a {@code long}: signed types sign-extend on load, unsigned ones zero-extend, and {@code uint64} keeps its
 * 64 bits as they are. {@link Check} says what a loaded value must satisfy before it is stored.
 */
public enum VmStateType {
    BOOL("bool", 1, false, Check.NONE),
    INT8("int8", 1, true, Check.NONE),
    INT16("int16", 2, true, Check.NONE),
    INT32("int32", 4, true, Check.NONE),
    INT64("int64", 8, true, Check.NONE),
    UINT8("uint8", 1, false, Check.NONE),
    UINT16("uint16", 2, false, Check.NONE),
    UINT32("uint32", 4, false, Check.NONE),
    UINT64("uint64", 8, false, Check.NONE),
    INT32_EQUAL("int32 equal", 4, true, Check.EQUAL),
    UINT32_EQUAL("uint32 equal", 4, false, Check.EQUAL),
    /** Named int64 but unsigned in QEMU; with 64 bits in a long the difference does not show. */
    INT64_EQUAL("int64 equal", 8, false, Check.EQUAL),
    UINT8_EQUAL("uint8 equal", 1, false, Check.EQUAL),
    UINT16_EQUAL("uint16 equal", 2, false, Check.EQUAL),
    INT32_LE("int32 le", 4, true, Check.AT_MOST_CURRENT),
    /** Expiry in ns of the timer's clock; -1 means not armed. */
    TIMER("timer", 8, true, Check.NONE);

    /** What a loaded value must satisfy against the destination's current value. */
    public enum Check {
        NONE,
        /** {@code loaded == current}, else the load fails */
        EQUAL,
        /** {@code 0 <= loaded <= current}, then stored */
        AT_MOST_CURRENT
    }

    private final String jsonName;
    private final int size;
    private final boolean signed;
    private final Check check;

    VmStateType(String jsonName, int size, boolean signed, Check check) {
        this.jsonName = jsonName;
        this.size = size;
        this.signed = signed;
        this.check = check;
    }

    /** The {@code type} string of the JSON trailer. */
    public String jsonName() {
        return jsonName;
    }

    /** Bytes on the wire. */
    public int size() {
        return size;
    }

    /** What a loaded value must satisfy before it is stored. */
    public Check check() {
        return check;
    }

    void write(StreamWriter w, long value) throws MigrationException {
        switch (size) {
            case 1 -> w.u8(this == BOOL ? (value != 0 ? 1 : 0) : (int) value);
            case 2 -> w.be16((int) value);
            case 4 -> w.be32((int) value);
            default -> w.be64(value);
        }
    }

    long read(StreamReader r) throws MigrationException {
        return switch (size) {
            case 1 -> this == BOOL ? (r.u8() != 0 ? 1 : 0) : signed ? (byte) r.u8() : r.u8();
            case 2 -> signed ? (short) r.be16() : r.be16();
            case 4 -> signed ? r.be32() : r.be32u();
            default -> r.be64();
        };
    }

    /** The value as this type would store it: what a round trip through the wire gives back. */
    public long normalize(long value) {
        return switch (size) {
            case 1 -> this == BOOL ? (value != 0 ? 1 : 0) : signed ? (byte) value : value & 0xff;
            case 2 -> signed ? (short) value : value & 0xffff;
            case 4 -> signed ? (int) value : value & 0xffff_ffffL;
            default -> value;
        };
    }
}
