package dev.livemig.wire;

import dev.livemig.wire.format.ReturnPathCodec;
import dev.livemig.wire.format.ReturnPathMessage;

import dev.livemig.wire.format.ReturnPathMessage.*;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class ReturnPathCodecTest {
    private static byte[] hex(String s) {
        return HexFormat.of().parseHex(s.replace(" ", ""));
    }

    private static String hexOf(String ascii) {
        return HexFormat.of().formatHex(ascii.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
    }

    private static byte[] written(ReturnPathMessage... messages) throws MigrationException {
        var w = StreamWriter.inMemory();
        for (ReturnPathMessage m : messages) {
            ReturnPathCodec.write(w, m);
        }
        return w.toByteArray();
    }

    private static MigrationException rejected(String hexBytes) {
        return assertThrows(MigrationException.class, () -> ReturnPathCodec.read(StreamReader.of(hex(hexBytes))));
    }

    private static void assertMessage(MigrationException e, String... parts) {
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), () -> "\"" + p + "\" missing in: " + e.getMessage());
        }
    }

    private static final List<ReturnPathMessage> EVERY_MESSAGE = List.of(
            new Shut(0), new Shut(1), new Pong(1), new Pong(Integer.MIN_VALUE),
            new ReqPagesId(0x1000, 0x1000, "pc.ram"), new ReqPagesId(-4096, 0x200000, "x".repeat(255)),
            new ReqPages(0x2000, 0x1000), new RecvBitmap("pc.ram"), ResumeAck.ready(), new SwitchoverAck());

    @Test
    void pongAndShutMatchQemu72() throws Exception {
        byte[] bytes = written(new Pong(1), new Shut(0));
        assertArrayEquals(hex("0002 0004 00000001  0001 0004 00000000"), bytes);
        for (StreamReader r : ChunkedChannel.deliveries(bytes)) {
            assertEquals(new Pong(1), ReturnPathCodec.read(r));
            assertEquals(new Shut(0), ReturnPathCodec.read(r));
            assertTrue(r.atEnd());
        }
    }

    @Test
    void pageRequestsAndRecoveryMessagesHaveQemusLayout() throws Exception {
        assertArrayEquals(hex("0003 0013 0000000000201000 00001000 06" + hexOf("pc.ram")),
                written(new ReqPagesId(0x201000, 0x1000, "pc.ram")));
        assertArrayEquals(hex("0004 000c 0000000000202000 00001000"), written(new ReqPages(0x202000, 0x1000)));
        assertArrayEquals(hex("0005 0007 06" + hexOf("pc.ram")), written(new RecvBitmap("pc.ram")));
        assertArrayEquals(hex("0006 0004 00000001  0007 0000"), written(ResumeAck.ready(), new SwitchoverAck()));
    }

    @Test
    void everyMessageRoundTripsOverEveryDelivery() throws Exception {
        byte[] bytes = written(EVERY_MESSAGE.toArray(ReturnPathMessage[]::new));
        for (StreamReader r : ChunkedChannel.deliveries(bytes)) {
            var back = new ArrayList<ReturnPathMessage>();
            while (!r.atEnd()) {
                back.add(ReturnPathCodec.read(r));
            }
            assertEquals(EVERY_MESSAGE, back);
        }
    }

    @Test
    void typeZeroAndUnknownTypesAreRejected() {
        assertMessage(rejected("0000 0000"), "unknown type", "type=INVALID length=0");
        assertMessage(rejected("0008 0000"), "unknown type", "type=8 length=0");
        assertMessage(rejected("ffff 0004 00000000"), "type=65535");
    }

    @Test
    void fixedLengthTypesWithAnotherLengthAreRejectedBeforeThePayload() throws Exception {
        // the payload is absent: a reader that read it first would report truncation instead
        assertMessage(rejected("0001 0005"), "type=SHUT length=5 expected=4");
        assertMessage(rejected("0002 0003"), "type=PONG length=3 expected=4");
        assertMessage(rejected("0004 000d"), "type=REQ_PAGES length=13 expected=12");
        assertMessage(rejected("0006 0000"), "type=RESUME_ACK length=0 expected=4");
        assertMessage(rejected("0007 0001"), "type=SWITCHOVER_ACK length=1 expected=0");
    }

    @Test
    void lengthsAbove512AreRejectedBeforeThePayload() {
        assertMessage(rejected("0003 0201"), "too long", "type=REQ_PAGES_ID length=513 max=512");
        assertMessage(rejected("0005 ffff"), "type=RECV_BITMAP length=65535 max=512");
    }

    @Test
    void aVariableMessageOfExactly512BytesIsReadThenJudged() {
        // 512 passes the size rule; the name length byte then decides (QEMU: 13 + name length)
        assertMessage(rejected("0003 0200 0000000000000000 00001000 ff" + "61".repeat(499)),
                "length does not match block name", "length=512", "expected=268");
    }

    @Test
    void reqPagesIdLengthMustBeThirteenPlusName() {
        String ram = hexOf("pc.ram");
        assertMessage(rejected("0003 000c 0000000000000000 00001000"), "type=REQ_PAGES_ID length=12 min=13");
        assertMessage(rejected("0003 0014 0000000000000000 00001000 06" + ram + "00"), "length=20", "expected=19");
        assertMessage(rejected("0003 0012 0000000000000000 00001000 06" + hexOf("pc.ra")), "length=18", "expected=19");
        assertMessage(rejected("0003 000d 0000000000000000 00001000 00"), "empty block name");
        assertMessage(rejected("0003 0010 0000000000000000 00001000 03 610062"), "NUL inside block name");
    }

    @Test
    void recvBitmapNeedsItsNameAndNothingElse() {
        assertMessage(rejected("0005 0000"), "missing block name");
        assertMessage(rejected("0005 0003 01 6100"), "type=RECV_BITMAP length=3", "expected=2");
        assertMessage(rejected("0005 0001 00"), "empty block name");
    }

    @Test
    void resumeAckMustCarryOne() {
        assertMessage(rejected("0006 0004 00000002"), "RESUME_ACK value must be 1", "value=2");
        assertMessage(rejected("0006 0004 00000000"), "value=0");
        assertThrows(IllegalArgumentException.class, () -> written(new ResumeAck(0)));
    }

    @Test
    void nonZeroShutIsAMessageNotAnError() throws Exception {
        // the source fails the migration on it; decoding must still deliver the status
        assertEquals(new Shut(1), ReturnPathCodec.read(StreamReader.of(hex("0001 0004 00000001"))));
    }

    @Test
    void truncatedMessagesAndErrorOffsetsPointAtTheMessage() throws Exception {
        for (StreamReader r : ChunkedChannel.deliveries(hex("0002 0004 00000001  0006 0004 00000005"))) {
            ReturnPathCodec.read(r);
            assertEquals(8, assertThrows(MigrationException.class, () -> ReturnPathCodec.read(r)).offset());
        }
        assertMessage(rejected("0002 0004 0000"), "truncated");
        assertMessage(rejected("0002"), "truncated");
    }

    @Test
    void blockNamesTheReaderWouldRefuseAreNotWritten() {
        for (String bad : List.of("", "a\0b", "x".repeat(256))) {
            assertThrows(IllegalArgumentException.class, () -> written(new RecvBitmap(bad)), bad);
            assertThrows(IllegalArgumentException.class, () -> written(new ReqPagesId(0, 0x1000, bad)), bad);
        }
    }
}
