package dev.livemig.wire;

import dev.livemig.wire.format.StreamFraming;
import dev.livemig.wire.format.StreamRecord;

import org.junit.jupiter.api.Test;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.*;

class StreamFramingTest {
    private static byte[] hex(String s) {
        return HexFormat.of().parseHex(s.replace(" ", ""));
    }

    @Test
    void headerIsQevmVersion3() throws Exception {
        var w = StreamWriter.inMemory();
        StreamFraming.writeHeader(w);
        assertArrayEquals(hex("5145564d 00000003"), w.toByteArray());
        assertDoesNotThrow(() -> StreamFraming.readHeader(StreamReader.of(hex("5145564d 00000003"))));
    }

    @Test
    void wrongMagicAndVersionsAreRejectedWithOffsets() {
        var bad = assertThrows(MigrationException.class, () -> StreamFraming.readHeader(StreamReader.of(hex("5145564e 00000003"))));
        assertTrue(bad.getMessage().contains("magic=0x5145564e"), bad.getMessage());
        assertEquals(0, bad.offset());
        var v2 = assertThrows(MigrationException.class, () -> StreamFraming.readHeader(StreamReader.of(hex("5145564d 00000002"))));
        assertTrue(v2.getMessage().contains("obsolete"), v2.getMessage());
        assertEquals(4, v2.offset());
        var v4 = assertThrows(MigrationException.class, () -> StreamFraming.readHeader(StreamReader.of(hex("5145564d 00000004"))));
        assertTrue(v4.getMessage().contains("version=4"), v4.getMessage());
    }

    @Test
    void fullSectionHeaderAndFooterMatchQemusTimerSection() throws Exception {
        // 04 00000000 05 "timer" 00000000 00000002 ... 7e 00000000 (format reference §3.6)
        var w = StreamWriter.inMemory();
        StreamFraming.writeSectionStart(w, true, 0, "timer", 0, 2);
        StreamFraming.writeFooter(w, 0);
        byte[] bytes = w.toByteArray();
        assertArrayEquals(hex("04 00000000 05 74696d6572 00000000 00000002 7e 00000000"), bytes);
        for (StreamReader r : ChunkedChannel.deliveries(bytes)) {
            assertEquals(new StreamRecord.SectionStart(true, 0, "timer", 0, 2), StreamFraming.readRecord(r));
            StreamFraming.readFooter(r, 0);
        }
    }

    @Test
    void partEndCommandAndEofRoundTrip() throws Exception {
        var w = StreamWriter.inMemory();
        StreamFraming.writeSectionContinue(w, false, 2);
        StreamFraming.writeSectionContinue(w, true, 2);
        StreamFraming.writeCommand(w, 3, hex("00000001"));
        StreamFraming.writeEof(w);
        StreamFraming.writeVmDescription(w, "{}".getBytes());
        byte[] bytes = w.toByteArray();
        assertArrayEquals(hex("02 00000002 03 00000002 08 0003 0004 00000001 00 06 00000002 7b7d"), bytes);
        for (StreamReader r : ChunkedChannel.deliveries(bytes)) {
            assertEquals(new StreamRecord.SectionContinue(false, 2), StreamFraming.readRecord(r));
            assertEquals(new StreamRecord.SectionContinue(true, 2), StreamFraming.readRecord(r));
            var cmd = assertInstanceOf(StreamRecord.Command.class, StreamFraming.readRecord(r));
            assertEquals(3, cmd.command());
            assertArrayEquals(hex("00000001"), cmd.data());
            assertEquals(new StreamRecord.Eof(), StreamFraming.readRecord(r));
            assertEquals("{}", new String(StreamFraming.readVmDescription(r)));
        }
    }

    @Test
    void footerMismatchNamesBothIds() {
        var e = assertThrows(MigrationException.class, () -> StreamFraming.readFooter(StreamReader.of(hex("7e 00000005")), 4));
        assertTrue(e.getMessage().contains("footer_id=5 section_id=4"), e.getMessage());
        var missing = assertThrows(MigrationException.class, () -> StreamFraming.readFooter(StreamReader.of(hex("00 00000004")), 4));
        assertTrue(missing.getMessage().contains("footer missing"), missing.getMessage());
    }

    @Test
    void recordTypesLegalOnlyElsewhereAreRejected() {
        for (String b : new String[] {"05", "06", "07", "7e", "09", "ff"}) {
            var e = assertThrows(MigrationException.class, () -> StreamFraming.readRecord(StreamReader.of(hex(b + "00000000"))));
            assertTrue(e.getMessage().contains("unexpected record type"), e.getMessage());
            assertEquals(0, e.offset());
        }
    }

    @Test
    void emptyIdstrIsRejected() {
        var e = assertThrows(MigrationException.class,
                () -> StreamFraming.readRecord(StreamReader.of(hex("04 00000001 00 00000000 00000001"))));
        assertTrue(e.getMessage().contains("empty idstr"), e.getMessage());
    }

    @Test
    void oversizedTrailerLengthIsRefusedBeforeAllocation() {
        var e = assertThrows(MigrationException.class, () -> StreamFraming.readVmDescription(StreamReader.of(hex("06 7fffffff"))));
        assertTrue(e.getMessage().contains("too long"), e.getMessage());
    }
}
