package dev.livemig.multifd;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** One zlib stream per channel across packets, a sync flush per packet, exact page counts on the way in. */
class ZlibChannelCodecTest {
    private static List<MemorySegment> pages(Random r, int n) {
        List<MemorySegment> l = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            byte[] b = new byte[4096];
            for (int j = 0; j < b.length; j += 1 + r.nextInt(16)) {
                b[j] = (byte) r.nextInt(); // compressible, not trivial
            }
            l.add(MemorySegment.ofArray(b));
        }
        return l;
    }

    private static List<MemorySegment> empty(int n) {
        List<MemorySegment> l = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            l.add(MemorySegment.ofArray(new byte[4096]));
        }
        return l;
    }

    @Test
    void packetsDecodeInOrderOnOneStreamAndOnlyThat() throws Exception {
        var r = new Random(3);
        try (var enc = new ZlibChannelCodec.Encoder(1); var dec = new ZlibChannelCodec.Decoder()) {
            boolean sawHeader = false;
            for (int packet = 0; packet < 5; packet++) {
                var sent = pages(r, 1 + r.nextInt(128));
                int n = enc.encode(sent);
                if (packet == 0) {
                    sawHeader = (enc.payload()[0] & 0xff) == 0x78;
                } else {
                    assertNotEquals(0x78, enc.payload()[0] & 0xff, "the stream is not restarted per packet");
                }
                assertEquals("0000ffff", java.util.HexFormat.of().formatHex(enc.payload(), n - 4, n), "ends with a sync flush");
                System.arraycopy(enc.payload(), 0, dec.input(), 0, n);
                var got = empty(sent.size());
                dec.decode(n, got);
                for (int i = 0; i < sent.size(); i++) {
                    assertEquals(-1, sent.get(i).mismatch(got.get(i)), "packet " + packet + " page " + i);
                }
            }
            assertTrue(sawHeader, "the first payload opens with the zlib header");
        }
    }

    @Test
    void aPayloadThatDoesNotFillExactlyItsPagesIsRefused() throws Exception {
        var r = new Random(4);
        try (var enc = new ZlibChannelCodec.Encoder(6); var dec = new ZlibChannelCodec.Decoder()) {
            int n = enc.encode(pages(r, 3));
            System.arraycopy(enc.payload(), 0, dec.input(), 0, n);
            var e = assertThrows(MalformedPayload.class, () -> dec.decode(n, empty(4)));
            assertTrue(e.getMessage().contains("packet size received 12288 size expected 16384"), e.getMessage());
        }
        try (var enc = new ZlibChannelCodec.Encoder(6); var dec = new ZlibChannelCodec.Decoder()) {
            int n = enc.encode(pages(r, 3));
            System.arraycopy(enc.payload(), 0, dec.input(), 0, n);
            var e = assertThrows(MalformedPayload.class, () -> dec.decode(n, empty(2)));
            assertTrue(e.getMessage().contains("left over"), e.getMessage());
        }
        try (var dec = new ZlibChannelCodec.Decoder()) {
            Arrays.fill(dec.input(), 0, 64, (byte) 0x55);
            assertTrue(assertThrows(MalformedPayload.class, () -> dec.decode(64, empty(1)))
                    .getMessage().contains("zlib stream broken"));
            assertThrows(MalformedPayload.class, () -> dec.decode(ZlibChannelCodec.MAX_PAYLOAD + 1, empty(1)));
        }
    }
}
