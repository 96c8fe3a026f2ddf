package dev.livemig.multifd;

import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.HexFormat;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Multifd packets in QEMU 7.2's layout: exact bytes, round trips, and the receiver's checks. */
class MultifdPacketTest {
    private static final Map<String, Long> BLOCKS = Map.of("pc.ram", 0x2000000L, "pc.bios", 0x40000L);
    private static final byte[] UUID = HexFormat.of().parseHex("00112233445566778899aabbccddeeff");

    private static byte[] bytes(MultifdPacket p) throws MigrationException {
        var w = StreamWriter.inMemory();
        switch (p) {
            case MultifdPacket.Initial i -> i.write(w);
            case MultifdPacket.Ram r -> r.write(w);
        }
        return w.toByteArray();
    }

    @Test
    void theInitialPacketIs64BytesAsQemuSendsIt() throws Exception {
        byte[] b = bytes(new MultifdPacket.Initial(UUID, 3));
        assertEquals("11223344" + "00000001" + "00112233445566778899aabbccddeeff" + "03" + "00".repeat(39),
                HexFormat.of().formatHex(b));
        var back = MultifdPacket.Initial.read(StreamReader.of(b), UUID, 4);
        assertEquals(3, back.channelId());
    }

    @Test
    void aRamHeaderIs1344BytesWithItsFieldsWhereQemuPutsThem() throws Exception {
        var p = new MultifdPacket.Ram(MultifdPacket.FLAG_SYNC | MultifdPacket.COMPRESSION_ZLIB, 2, 777, 41, "pc.ram",
                new long[]{0x1000, 0x5000});
        byte[] b = bytes(p);
        assertEquals(1344, b.length);
        assertEquals("11223344" + "00000001" + "00000003" + "00000080" + "00000002" + "00000309" + "0000000000000029"
                + "00".repeat(32), HexFormat.of().formatHex(b, 0, 64));
        assertEquals("pc.ram", new String(b, 64, 6));
        assertEquals(0, b[70], "NUL-padded name");
        assertEquals("0000000000001000" + "0000000000005000" + "0000000000000000", HexFormat.of().formatHex(b, 320, 344));
        var back = MultifdPacket.Ram.read(StreamReader.of(b), BLOCKS, MultifdPacket.COMPRESSION_ZLIB);
        assertTrue(back.isSync());
        assertEquals(2, back.normalPages());
        assertEquals(777, back.nextPacketSize());
        assertEquals(41, back.packetNum());
        assertEquals("pc.ram", back.ramBlock());
        assertArrayEquals(new long[]{0x1000, 0x5000}, back.offsets());
    }

    @Test
    void aSyncPacketWithoutPagesNeedsNoKnownBlock() throws Exception {
        byte[] b = bytes(new MultifdPacket.Ram(MultifdPacket.FLAG_SYNC, 0, 0, 7, "", new long[0]));
        var back = MultifdPacket.Ram.read(StreamReader.of(b), BLOCKS, MultifdPacket.COMPRESSION_ZSTD);
        assertTrue(back.isSync());
        assertEquals(0, back.normalPages(), "no pages: the compression flag is not judged either");
    }

    private static String refusal(byte[] b, int compression) {
        return assertThrows(MigrationException.class,
                () -> MultifdPacket.Ram.read(StreamReader.of(b), BLOCKS, compression)).getMessage();
    }

    private static byte[] header(String block, long... offsets) throws MigrationException {
        return bytes(new MultifdPacket.Ram(0, offsets.length, 0, 1, block, offsets));
    }

    @Test
    void hostileHeadersAreRefusedWithQemusReasons() throws Exception {
        byte[] good = header("pc.ram", 0x1000);
        byte[] b = good.clone();
        b[0] = 0x12;
        assertTrue(refusal(b, 0).contains("received packet magic 12223344 and expected magic 11223344"));
        b = good.clone();
        b[7] = 2;
        assertTrue(refusal(b, 0).contains("received packet version 2 and expected version 1"));
        b = good.clone();
        b[15] = (byte) 0x81;
        assertTrue(refusal(b, 0).contains("received packet with size 129 and expected a size of 128"));
        b = good.clone();
        b[15] = 1; // pages_alloc 1
        b[19] = 2; // normal_pages 2
        assertTrue(refusal(b, 0).contains("received packet with 2 pages and expected maximum pages are 1"));
        assertTrue(refusal(header("vga.vram", 0), 0).contains("unknown ram block vga.vram"));
        assertTrue(refusal(header("pc.bios", 0x40000), 0).contains("offset too long 0x40000 (max 0x40000)"));
        assertTrue(refusal(header("pc.bios", 0x3f000, -4096), 0).contains("offset too long"));
        assertTrue(refusal(header("pc.ram", 0x1001), 0).contains("not on a page boundary"));
        assertTrue(refusal(good, MultifdPacket.COMPRESSION_ZSTD).contains("compression flags 0x0, expected 0x4"));
        assertTrue(refusal(Arrays.copyOf(good, 600), 0).contains("truncated"), "cut inside the offsets");
        byte[] longName = bytes(new MultifdPacket.Ram(0, 0, 0, 1, "x".repeat(300), new long[0]));
        assertEquals("x".repeat(255), MultifdPacket.Ram.read(StreamReader.of(longName), BLOCKS, 0).ramBlock(),
                "the name ends at byte 255, as QEMU terminates it");
    }

    @Test
    void anInitialPacketFromAnotherVmOrBeyondTheChannelsIsRefused() throws Exception {
        byte[] b = bytes(new MultifdPacket.Initial(UUID, 4));
        assertTrue(assertThrows(MigrationException.class, () -> MultifdPacket.Initial.read(StreamReader.of(b), UUID, 4))
                .getMessage().contains("channel id 4 but only 4 channels"));
        byte[] other = bytes(new MultifdPacket.Initial(new byte[16], 0));
        assertTrue(assertThrows(MigrationException.class, () -> MultifdPacket.Initial.read(StreamReader.of(other), UUID, 4))
                .getMessage().contains("received uuid 00000000000000000000000000000000 and expected uuid 00112233"));
    }
}
