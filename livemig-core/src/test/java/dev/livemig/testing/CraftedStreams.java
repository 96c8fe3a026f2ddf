package dev.livemig.testing;

import dev.livemig.ram.RamFlags;
import dev.livemig.savevm.ConfigurationRecord;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.format.StreamFraming;
import dev.livemig.wire.StreamWriter;
import dev.livemig.wire.format.WireFormat;

import java.nio.ByteBuffer;
import java.util.List;

/**
 * Hostile migration streams, small enough to hold in a test: a RAM block list announcing far more memory
 * than the bytes that follow, device sections whose idstr carries terminal escapes, a vmdescription whose
 * length field does not match its text. Each is otherwise well formed, so a reader gets as far as the lie.
 */
public final class CraftedStreams {
    public static final String MACHINE = "pc-i440fx-7.2";
    /** An idstr that would clear a terminal, turn text red and print a line of its own if shown raw. */
    public static final String ESCAPE_IDSTR = "\u001b[2J\u001b[31mdev\nverified: ok\u009b0m\u00ff";
    public static final long TIB = 1L << 40;
    /** 4 EiB: a page-aligned MEM_SIZE total whose block lengths still fit a signed long. */
    public static final long FOUR_EIB = 1L << 62;

    private CraftedStreams() {
    }

    /**
     * Header, configuration, then a RAM section whose block list names {@code block} with {@code length} bytes,
     * EOS, footer and EOF: no page follows, so the stream is a few dozen bytes however much it declares.
     */
    public static byte[] ramDeclaring(String block, long length) throws MigrationException {
        StreamWriter w = StreamWriter.inMemory();
        StreamFraming.writeHeader(w);
        ConfigurationRecord.write(w, MACHINE, List.of());
        StreamFraming.writeSectionStart(w, false, 2, RamFlags.IDSTR, 0, RamFlags.SECTION_VERSION);
        w.be64(length | RamFlags.MEM_SIZE);
        w.str8(block).be64(length);
        w.be64(RamFlags.EOS);
        StreamFraming.writeFooter(w, 2);
        StreamFraming.writeEof(w);
        return w.toByteArray();
    }

    /**
     * Header, configuration, a 4 KiB RAM block with one zero page, then a device section named {@code idstr}
     * (its Latin-1 bytes) with a four-byte body, and EOF.
     */
    public static byte[] deviceSectionNamed(String idstr) throws MigrationException {
        StreamWriter w = StreamWriter.inMemory();
        StreamFraming.writeHeader(w);
        ConfigurationRecord.write(w, MACHINE, List.of());
        StreamFraming.writeSectionStart(w, false, 2, RamFlags.IDSTR, 0, RamFlags.SECTION_VERSION);
        w.be64(4096 | RamFlags.MEM_SIZE);
        w.str8("pc.ram").be64(4096);
        w.be64(RamFlags.EOS);
        StreamFraming.writeFooter(w, 2);
        StreamFraming.writeSectionContinue(w, true, 2);
        w.be64(RamFlags.ZERO);
        w.str8("pc.ram").u8(0);
        w.be64(RamFlags.EOS);
        StreamFraming.writeFooter(w, 2);
        StreamFraming.writeSectionStart(w, true, 3, idstr, 0, 1);
        w.be32(0x0102_0304);
        StreamFraming.writeFooter(w, 3);
        StreamFraming.writeEof(w);
        return w.toByteArray();
    }

    /**
     * {@code stream} (which must end with a vmdescription trailer) with the trailer's length field set to
     * {@code length}; the text itself is unchanged.
     */
    public static byte[] withVmDescriptionLength(byte[] stream, long length) {
        int at = trailerAt(stream);
        byte[] out = stream.clone();
        ByteBuffer.wrap(out, at + 1, 4).putInt((int) length);
        return out;
    }

    /** The stream offset of the trailer's type byte: the last 0x06 whose length field covers the rest exactly. */
    public static int trailerAt(byte[] stream) {
        for (int i = stream.length - 5; i >= 0; i--) {
            if ((stream[i] & 0xff) == WireFormat.VMDESCRIPTION
                    && (ByteBuffer.wrap(stream, i + 1, 4).getInt() & 0xffff_ffffL) == stream.length - i - 5L) {
                return i;
            }
        }
        throw new IllegalArgumentException("no vmdescription trailer at the end of the stream");
    }

    /** The body of the "timer" section of {@link #withReturnPath}: NULs, and a fake trailer ("{x}" is no JSON). */
    public static final byte[] TIMER_BODY = {0, 0, 0x7d, 0, 0x06, 0, 0, 0, 3, '{', 'x', '}', 0, 1};

    /**
     * What a source with a return path sends: header, configuration, {@code commands}, a RAM section of two
     * pages of "pc.ram" (the first filled with 0x5a, the second zero), a FULL section "timer" with
     * {@link #TIMER_BODY}, EOF and a vmdescription trailer describing it.
     */
    public static byte[] withReturnPath(dev.livemig.wire.format.MigrationCommand... commands) throws MigrationException {
        StreamWriter w = StreamWriter.inMemory();
        StreamFraming.writeHeader(w);
        ConfigurationRecord.write(w, MACHINE, List.of());
        for (var c : commands) {
            dev.livemig.wire.format.MigrationCommands.write(w, c);
        }
        StreamFraming.writeSectionStart(w, false, 2, RamFlags.IDSTR, 0, RamFlags.SECTION_VERSION);
        w.be64(2 * 4096 | RamFlags.MEM_SIZE);
        w.str8("pc.ram").be64(2 * 4096);
        w.be64(RamFlags.EOS);
        StreamFraming.writeFooter(w, 2);
        StreamFraming.writeSectionContinue(w, true, 2);
        byte[] page = new byte[4096];
        java.util.Arrays.fill(page, (byte) 0x5a);
        w.be64(RamFlags.PAGE).str8("pc.ram").bytes(page);
        w.be64(4096 | RamFlags.ZERO | RamFlags.CONTINUE).u8(0);
        w.be64(RamFlags.EOS);
        StreamFraming.writeFooter(w, 2);
        StreamFraming.writeSectionStart(w, true, 3, "timer", 0, 2);
        w.bytes(TIMER_BODY);
        StreamFraming.writeFooter(w, 3);
        StreamFraming.writeEof(w);
        StreamFraming.writeVmDescription(w, "{\"page_size\": 4096, \"devices\": [{\"name\": \"timer\", \"instance_id\": 0}]}"
                .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        return w.toByteArray();
    }
}
