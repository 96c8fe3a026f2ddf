package dev.livemig.multifd;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** One zstd stream per channel across packets, flushed per packet, exact page counts on the way in. */
class ZstdChannelCodecTest {
    private static List<MemorySegment> pages(Random r, int n) {
        List<MemorySegment> l = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            byte[] b = new byte[4096];
            for (int j = 0; j < b.length; j += 1 + r.nextInt(16)) {
                b[j] = (byte) r.nextInt();
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

    private static int feed(ZstdChannelCodec.Encoder enc, ZstdChannelCodec.Decoder dec, List<MemorySegment> sent) {
        int n = enc.encode(sent);
        dec.input().copyFrom(MemorySegment.ofBuffer(enc.payload()));
        return n;
    }

    @Test
    void packetsDecodeInOrderOnOneStream() throws Exception {
        var r = new Random(5);
        try (var enc = new ZstdChannelCodec.Encoder(1); var dec = new ZstdChannelCodec.Decoder()) {
            for (int packet = 0; packet < 5; packet++) {
                var sent = pages(r, 1 + r.nextInt(128));
                int n = feed(enc, dec, sent);
                assertEquals(packet == 0, enc.payload().getInt(0) == 0x28b52ffd, "only the first payload opens a frame");
                var got = empty(sent.size());
                dec.decode(n, got);
                for (int i = 0; i < sent.size(); i++) {
                    assertEquals(-1, sent.get(i).mismatch(got.get(i)), "packet " + packet + " page " + i);
                }
            }
        }
    }

    @Test
    void aPayloadThatDoesNotFillExactlyItsPagesIsRefused() throws Exception {
        var r = new Random(6);
        try (var enc = new ZstdChannelCodec.Encoder(3); var dec = new ZstdChannelCodec.Decoder()) {
            int n = feed(enc, dec, pages(r, 3));
            var e = assertThrows(MalformedPayload.class, () -> dec.decode(n, empty(4)));
            assertTrue(e.getMessage().contains("packet size received 12288 size expected 16384"), e.getMessage());
        }
        try (var dec = new ZstdChannelCodec.Decoder()) {
            dec.input().asSlice(0, 64).fill((byte) 0x55);
            assertTrue(assertThrows(MalformedPayload.class, () -> dec.decode(64, empty(1))).getMessage().contains("zstd"));
            assertThrows(MalformedPayload.class, () -> dec.decode(ZstdChannelCodec.MAX_PAYLOAD + 1, empty(1)));
        }
    }
}
