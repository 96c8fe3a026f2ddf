package dev.livemig.wire;

import dev.livemig.wire.format.MigrationCommand;
import dev.livemig.wire.format.MigrationCommands;
import dev.livemig.wire.format.StreamFraming;
import dev.livemig.wire.format.StreamRecord;

import dev.livemig.wire.format.MigrationCommand.*;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class MigrationCommandsTest {
    private static byte[] hex(String s) {
        return HexFormat.of().parseHex(s.replace(" ", ""));
    }

    private static String hexOf(String ascii) {
        return HexFormat.of().formatHex(ascii.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
    }

    private static byte[] written(MigrationCommand... commands) throws MigrationException {
        var w = StreamWriter.inMemory();
        for (MigrationCommand c : commands) {
            MigrationCommands.write(w, c);
        }
        return w.toByteArray();
    }

    /** Reads one command record from {@code bytes} and decodes it with 7.2's rules. */
    private static MigrationCommand decodeOne(byte[] bytes) throws MigrationException {
        var r = StreamReader.of(bytes);
        return MigrationCommands.decode((StreamRecord.Command) StreamFraming.readRecord(r), r);
    }

    private static MigrationException rejected(String hexBytes) {
        return assertThrows(MigrationException.class, () -> decodeOne(hex(hexBytes)));
    }

    private static void assertMessage(MigrationException e, String... parts) {
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), () -> "\"" + p + "\" missing in: " + e.getMessage());
        }
    }

    private static final List<MigrationCommand> EVERY_COMMAND = List.of(
            new OpenReturnPath(), new Ping(1), new Ping(-1), new PostcopyAdvise(0x1000, 0x1000),
            new PostcopyAdvise(0x201000, 0x1000), PostcopyAdvise.withoutRam(), new PostcopyListen(), new PostcopyRun(),
            new PostcopyRamDiscard("pc.bios", List.of(new Range(0, 0x40000))),
            new PostcopyRamDiscard("pc.ram", List.of(new Range(0x1000, 0x1000), new Range(-4096, Long.MAX_VALUE))),
            new Packaged(0), new Packaged(0xffff_ffffL), new EnableColo(), new PostcopyResume(), new RecvBitmap("pc.ram"),
            new RecvBitmap("x".repeat(255)));

    @Test
    void openReturnPathAndPingMatchQemu72() throws Exception {
        assertArrayEquals(hex("08 0001 0000  08 0002 0004 00000001"), written(new OpenReturnPath(), new Ping(1)));
    }

    @Test
    void postcopyAdviseHasSixteenByteAndEmptyForms() throws Exception {
        assertArrayEquals(hex("08 0003 0010 0000000000001000 0000000000001000"), written(new PostcopyAdvise(0x1000, 0x1000)));
        assertArrayEquals(hex("08 0003 0000"), written(PostcopyAdvise.withoutRam()));
        assertFalse(((PostcopyAdvise) decodeOne(hex("08 0003 0000"))).carriesRamSizes());
    }

    @Test
    void discardMatchesTheReferenceExample() throws Exception {
        byte[] golden = hex("08 0006 001a 00 07" + hexOf("pc.bios") + "00 0000000000000000 0000000000040000");
        var discard = new PostcopyRamDiscard("pc.bios", List.of(new Range(0, 0x40000)));
        assertArrayEquals(golden, written(discard));
        assertEquals(discard, decodeOne(golden));
    }

    @Test
    void packagedCarriesOnlyTheLengthOfWhatFollows() throws Exception {
        assertArrayEquals(hex("08 0007 0004 fffffffe"), written(new Packaged(0xffff_fffeL)));
        assertArrayEquals(hex("08 000a 0007 06" + hexOf("pc.ram")), written(new RecvBitmap("pc.ram")));
        assertArrayEquals(hex("08 0008 0000 08 0009 0000 08 0004 0000 08 0005 0000"),
                written(new EnableColo(), new PostcopyResume(), new PostcopyListen(), new PostcopyRun()));
    }

    @Test
    void everyCommandRoundTripsOverEveryDelivery() throws Exception {
        byte[] bytes = written(EVERY_COMMAND.toArray(MigrationCommand[]::new));
        for (StreamReader r : ChunkedChannel.deliveries(bytes)) {
            var back = new ArrayList<MigrationCommand>();
            while (!r.atEnd()) {
                back.add(MigrationCommands.decode((StreamRecord.Command) StreamFraming.readRecord(r), r));
            }
            assertEquals(EVERY_COMMAND, back);
        }
    }

    @Test
    void switchoverStartIsUnknownTo72UnlessAccepted() throws Exception {
        byte[] bytes = written(new SwitchoverStart());
        assertArrayEquals(hex("08 000b 0000"), bytes);
        assertMessage(assertThrows(MigrationException.class, () -> decodeOne(bytes)), "command=SWITCHOVER_START", "unknown");
        for (StreamReader r : ChunkedChannel.deliveries(bytes)) {
            assertEquals(new SwitchoverStart(), MigrationCommands.decode((StreamRecord.Command) StreamFraming.readRecord(r), r, true));
        }
        assertMessage(assertThrows(MigrationException.class, () -> {
            var r = StreamReader.of(hex("08 000b 0001 00"));
            MigrationCommands.decode((StreamRecord.Command) StreamFraming.readRecord(r), r, true);
        }), "command=SWITCHOVER_START length=1 expected=0");
    }

    @Test
    void commandZeroAndUnknownNumbersAreRejected() {
        assertMessage(rejected("08 0000 0000"), "invalid command number", "command=INVALID length=0");
        assertMessage(rejected("08 000c 0000"), "unknown command", "command=12");
        assertMessage(rejected("08 ffff 0002 abcd"), "command=65535 length=2");
    }

    @Test
    void fixedLengthCommandsWithAnotherLengthAreRejected() {
        assertMessage(rejected("08 0002 0003 000001"), "command=PING length=3 expected=4");
        assertMessage(rejected("08 0002 0005 0000000100"), "command=PING length=5 expected=4");
        assertMessage(rejected("08 0001 0001 00"), "command=OPEN_RETURN_PATH length=1 expected=0");
        assertMessage(rejected("08 0004 0002 0000"), "command=POSTCOPY_LISTEN length=2 expected=0");
        assertMessage(rejected("08 0005 0001 00"), "command=POSTCOPY_RUN length=1 expected=0");
        assertMessage(rejected("08 0007 0008 0000000000000001"), "command=PACKAGED length=8 expected=4");
        assertMessage(rejected("08 0008 0001 00"), "command=ENABLE_COLO length=1 expected=0");
        assertMessage(rejected("08 0009 0004 00000000"), "command=POSTCOPY_RESUME length=4 expected=0");
    }

    @Test
    void adviseIsZeroOrSixteenBytesWithRealPageSizes() {
        assertMessage(rejected("08 0003 0008 0000000000001000"), "command=POSTCOPY_ADVISE length=8 expected=0|16");
        assertMessage(rejected("08 0003 0010 0000000000000000 0000000000001000"), "zero page size", "page_size_summary=0x0");
        assertThrows(IllegalArgumentException.class, () -> written(new PostcopyAdvise(0x1000, 0)));
    }

    @Test
    void discardLayoutIsChecked() {
        String bios = hexOf("pc.bios");
        String range = "0000000000000000 0000000000001000";
        assertMessage(rejected("08 0006 0013 00 01 61 00 0000000000000000 00000000000010"), "length=19 min=20");
        assertMessage(rejected("08 0006 001a 01 07" + bios + "00" + range), "invalid version", "version=1 expected=0");
        assertMessage(rejected("08 0006 001a 00 07" + bios + "ff" + range), "missing NUL", "block=pc.bios found=0xff");
        assertMessage(rejected("08 0006 001b 00 07" + bios + "00" + range + "00"), "multiple of 16", "ranges_length=17");
        assertMessage(rejected("08 0006 0014 00 30 " + "61".repeat(18)), "runs past the payload", "name_length=48");
        assertMessage(rejected("08 0006 0014 00 11 " + "61".repeat(17) + " 61"), "missing NUL");
        assertMessage(rejected("08 0006 0014 00 12 " + "61".repeat(18)), "missing NUL", "block=" + "a".repeat(18));
        assertMessage(rejected("08 0006 0023 00 00 00" + range + range), "empty block name");
        assertMessage(rejected("08 0006 0016 00 03 610062 00" + range), "NUL inside block name");
    }

    @Test
    void discardWithoutRangesIsAcceptedAsIn72WhenTheNameFillsTheMinimum() throws Exception {
        // 1 + 1 + 17 + 1 = 20 = the loader's minimum, leaving 0 bytes of ranges: 7.2 loops zero times
        assertEquals(new PostcopyRamDiscard("a".repeat(17), List.of()), decodeOne(hex("08 0006 0014 00 11 " + "61".repeat(17) + " 00")));
        assertThrows(IllegalArgumentException.class, () -> written(new PostcopyRamDiscard("pc.ram", List.of())));
    }

    @Test
    void discardWritesAtMostTwelveRanges() throws Exception {
        var twelve = new ArrayList<Range>();
        for (int i = 0; i < 12; i++) {
            twelve.add(new Range(i * 0x1000L, 0x1000));
        }
        assertEquals(new PostcopyRamDiscard("pc.ram", twelve), decodeOne(written(new PostcopyRamDiscard("pc.ram", twelve))));
        twelve.add(new Range(0x100000, 0x1000));
        var e = assertThrows(IllegalArgumentException.class, () -> written(new PostcopyRamDiscard("pc.ram", twelve)));
        assertTrue(e.getMessage().contains("ranges=13"), e.getMessage());
    }

    @Test
    void recvBitmapLengthMustBeNameLengthPlusOne() {
        String ram = hexOf("pc.ram");
        assertMessage(rejected("08 000a 0008 06" + ram + "00"), "command=RECV_BITMAP length=8", "expected=7");
        assertMessage(rejected("08 000a 0006 06" + hexOf("pc.ra")), "runs past the payload", "name_length=6");
        assertMessage(rejected("08 000a 0001 00"), "empty block name");
        assertMessage(rejected("08 000a 0000"), "missing block name");
    }

    @Test
    void blockNamesQemuCannotCarryAreRefusedWhenWriting() {
        for (String bad : List.of("", "a\0b", "x".repeat(256), "\u0100")) {
            assertThrows(IllegalArgumentException.class, () -> written(new RecvBitmap(bad)), bad);
            assertThrows(IllegalArgumentException.class,
                    () -> written(new PostcopyRamDiscard(bad, List.of(new Range(0, 0x1000)))), bad);
        }
        assertThrows(IllegalArgumentException.class, () -> written(new Packaged(1L << 32)));
        assertThrows(IllegalArgumentException.class, () -> written(new Packaged(-1)));
    }

    @Test
    void errorsPointAtTheCommandRecord() throws Exception {
        byte[] bytes = hex("08 0002 0004 00000001  08 0002 0003 000001");
        for (StreamReader r : ChunkedChannel.deliveries(bytes)) {
            MigrationCommands.decode((StreamRecord.Command) StreamFraming.readRecord(r), r);
            var bad = (StreamRecord.Command) StreamFraming.readRecord(r);
            var e = assertThrows(MigrationException.class, () -> MigrationCommands.decode(bad, r));
            assertEquals(9, e.offset(), e.getMessage());
        }
    }

    @Test
    void numbersAndNamesFollowQemu() {
        assertEquals(7, MigrationCommands.number(new Packaged(1)));
        assertEquals(10, MigrationCommands.number(new RecvBitmap("pc.ram")));
        assertEquals("POSTCOPY_RAM_DISCARD", MigrationCommands.name(6));
    }
}
