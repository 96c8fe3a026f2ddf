package dev.livemig.ram;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** XBZRLE deltas: QEMU's run layout byte for byte, its overflow point, and a strict decoder. */
class XbzrleTest {
    private static final int PAGE = 4096;

    private static String encodeHex(byte[] old, byte[] cur) {
        byte[] dst = new byte[PAGE];
        int n = Xbzrle.encode(old, cur, dst, PAGE);
        return n < 0 ? "overflow" : HexFormat.of().formatHex(dst, 0, n);
    }

    @Test
    void handComputedDeltas() {
        byte[] old = new byte[PAGE];
        byte[] cur = new byte[PAGE];
        assertEquals("", encodeHex(old, cur), "unchanged: nothing");
        cur[10] = (byte) 0xaa;
        assertEquals("0a01aa", encodeHex(old, cur), "unchanged run 10, changed run 1, trailing run left out");
        cur = new byte[PAGE];
        cur[0] = 1;
        assertEquals("000101", encodeHex(old, cur), "the first unchanged run may be empty");
        cur = new byte[PAGE];
        cur[200] = 1;
        cur[201] = 2;
        cur[202] = 3;
        cur[4095] = 9;
        assertEquals("c80103010203" + "b41e0109", encodeHex(old, cur), "ULEB128 200 = c8 01; 3892 = b4 1e");
    }

    @Test
    void aDeltaThatWouldNotFitAPageIsAnOverflowAsInQemu() {
        byte[] old = new byte[PAGE];
        byte[] cur = new byte[PAGE];
        Arrays.fill(cur, (byte) 1);
        assertEquals("overflow", encodeHex(old, cur), "3 header bytes + 4096");
        byte[] alternate = new byte[PAGE];
        for (int i = 0; i < PAGE; i += 2) {
            alternate[i] = 1;
        }
        assertEquals("overflow", encodeHex(old, alternate), "two bytes of lengths per changed byte");
        // one changed byte short of a page: 2 + 2 + 4093 = 4097 > 4096
        byte[] almost = new byte[PAGE];
        Arrays.fill(almost, 0, PAGE - 3, (byte) 1);
        assertEquals("overflow", encodeHex(old, almost));
        byte[] fits = new byte[PAGE];
        Arrays.fill(fits, 5, PAGE - 5, (byte) 1); // 1 + 2 + 4086 = 4089
        assertEquals(4089, Xbzrle.encode(old, fits, new byte[PAGE], PAGE));
    }

    @Property(tries = 300)
    void decodingADeltaOntoTheOldPageGivesTheNewOne(@ForAll long seed, @ForAll @IntRange(min = 0, max = 600) int changes) throws Exception {
        var r = new Random(seed);
        byte[] old = new byte[PAGE];
        r.nextBytes(old);
        byte[] cur = old.clone();
        for (int i = 0; i < changes; i++) {
            int at = r.nextInt(PAGE);
            int len = 1 + r.nextInt(8);
            for (int j = at; j < Math.min(PAGE, at + len); j++) {
                cur[j] = (byte) (cur[j] + 1 + r.nextInt(255));
            }
        }
        byte[] dst = new byte[PAGE];
        int n = Xbzrle.encode(old, cur, dst, PAGE);
        if (n == Xbzrle.OVERFLOW) {
            return; // sent whole instead
        }
        MemorySegment page = MemorySegment.ofArray(old.clone());
        Xbzrle.decode(dst, n, page);
        assertEquals(-1, page.mismatch(MemorySegment.ofArray(cur)));
        try (var arena = java.lang.foreign.Arena.ofConfined()) { // guest RAM is off-heap
            MemorySegment guest = arena.allocate(PAGE);
            MemorySegment.copy(MemorySegment.ofArray(old), 0, guest, 0, PAGE);
            Xbzrle.decode(dst, n, guest);
            assertEquals(-1, guest.mismatch(MemorySegment.ofArray(cur)));
        }
    }

    /** Random deltas, half of them mutations of a real one: decoded or refused with a reason, nothing else. */
    @Property(tries = 2000)
    void anyDeltaIsAppliedOrRefusedWithAReason(@ForAll long seed) {
        var r = new Random(seed);
        byte[] src;
        if (r.nextBoolean()) {
            src = new byte[r.nextInt(64)];
            r.nextBytes(src);
        } else {
            byte[] old = new byte[PAGE];
            byte[] cur = new byte[PAGE];
            for (int k = 0; k < 20; k++) {
                cur[r.nextInt(PAGE)] = (byte) (1 + r.nextInt(255));
            }
            byte[] delta = new byte[PAGE];
            src = java.util.Arrays.copyOf(delta, Xbzrle.encode(old, cur, delta, PAGE));
            if (src.length > 0) {
                src[r.nextInt(src.length)] ^= (byte) (1 + r.nextInt(255));
            }
        }
        try {
            Xbzrle.decode(src, src.length, MemorySegment.ofArray(new byte[PAGE]));
        } catch (Xbzrle.Malformed e) {
            assertTrue(e.getMessage().startsWith("xbzrle"), e.getMessage());
        }
    }

    @Test
    void aFirstUnchangedRunMayBeEmptyInEitherLengthForm() throws Exception {
        MemorySegment page = MemorySegment.ofArray(new byte[PAGE]);
        assertEquals(1, Xbzrle.decode(HexFormat.of().parseHex("8000" + "01aa"), 4, page));
        assertEquals((byte) 0xaa, page.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0));
    }

    private static String refusal(String hex) {
        byte[] src = HexFormat.of().parseHex(hex);
        return assertThrows(Xbzrle.Malformed.class, () -> Xbzrle.decode(src, src.length, MemorySegment.ofArray(new byte[PAGE])))
                .getMessage();
    }

    @Test
    void hostileDeltasAreRefusedWithTheReason() {
        assertTrue(refusal("05").contains("ends inside a run header"));
        assertTrue(refusal("0500").contains("ends before a changed run"), "one byte left cannot hold a run");
        assertTrue(refusal("050000").contains("empty changed run"));
        assertTrue(refusal("000101" + "0001aa").contains("empty unchanged run"));
        assertTrue(refusal("ff7f0101").contains("runs past the page"), "an unchanged run of 16383");
        assertTrue(refusal("ff0f" + "0201").contains("exceeds the delta"), "a changed run longer than the bytes left");
        assertTrue(refusal("ff1f" + "0501020304").contains("exceeds the page"), "4095 + 5 > 4096");
        assertTrue(refusal("8080010101").contains("longer than two ULEB128 bytes"));
    }
}
