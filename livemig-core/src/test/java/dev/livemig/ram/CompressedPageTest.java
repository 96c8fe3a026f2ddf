package dev.livemig.ram;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Random;
import java.util.zip.Deflater;
import java.util.zip.Inflater;

import static org.junit.jupiter.api.Assertions.*;

/** COMPRESS_PAGE payloads: one zlib stream per page, bounded by compressBound, strict on the way in. */
class CompressedPageTest {
    private static MemorySegment page(long seed, int changedBytes) {
        byte[] b = new byte[4096];
        var r = new Random(seed);
        for (int i = 0; i < changedBytes; i++) {
            b[r.nextInt(4096)] = (byte) r.nextInt();
        }
        return MemorySegment.ofArray(b);
    }

    @Property(tries = 200)
    void everyPageComesBackAtEveryLevel(@ForAll long seed, @ForAll @IntRange(min = 0, max = 4096) int changed,
                                        @ForAll @IntRange(min = 0, max = 9) int level) throws Exception {
        MemorySegment p = page(seed, changed);
        byte[] out = new byte[CompressedPage.MAX_LENGTH];
        int n = CompressedPage.encode(p, new Deflater(level), out);
        assertTrue(n <= CompressedPage.MAX_LENGTH);
        MemorySegment back = MemorySegment.ofArray(new byte[4096]);
        CompressedPage.decode(out, n, new Inflater(), back);
        assertEquals(-1, p.mismatch(back));
    }

    @Test
    void theBoundIsZlibsCompressBoundOfAPage() {
        assertEquals(4110, CompressedPage.MAX_LENGTH);
    }

    @Test
    void pagesAreIndependentZlibStreamsWithAHeader() throws Exception {
        var d = new Deflater(1);
        byte[] a = new byte[CompressedPage.MAX_LENGTH];
        byte[] b = new byte[CompressedPage.MAX_LENGTH];
        int na = CompressedPage.encode(page(1, 100), d, a);
        int nb = CompressedPage.encode(page(1, 100), d, b);
        assertArrayEquals(Arrays.copyOf(a, na), Arrays.copyOf(b, nb), "the same page encodes the same after a reset");
        assertEquals(0x78, a[0] & 0xff, "zlib header (deflate, 32K window)");
        assertEquals(0, ((a[0] & 0xff) << 8 | (a[1] & 0xff)) % 31, "zlib header check bits");
        var zero = new byte[CompressedPage.MAX_LENGTH];
        int nz = CompressedPage.encode(MemorySegment.ofArray(new byte[4096]), new Deflater(1), zero);
        assertTrue(nz < 64, "a zero page is tiny: " + nz);
    }

    @Test
    void hostilePayloadsAreRefusedWithTheReason() throws Exception {
        MemorySegment target = MemorySegment.ofArray(new byte[4096]);
        byte[] good = new byte[CompressedPage.MAX_LENGTH];
        int n = CompressedPage.encode(page(7, 300), new Deflater(6), good);
        assertTrue(assertThrows(CompressedPage.Malformed.class,
                () -> CompressedPage.decode(good, CompressedPage.MAX_LENGTH + 1, new Inflater(), target)).getMessage().contains("outside"));
        assertTrue(assertThrows(CompressedPage.Malformed.class,
                () -> CompressedPage.decode(good, n - 3, new Inflater(), target)).getMessage().contains("inflates to"), "truncated");
        byte[] garbage = {1, 2, 3, 4, 5, 6, 7, 8};
        assertTrue(assertThrows(CompressedPage.Malformed.class,
                () -> CompressedPage.decode(garbage, garbage.length, new Inflater(), target)).getMessage().contains("not a zlib stream"));
        // a stream of two pages' worth: the bomb stops at one page
        var d = new Deflater(9);
        d.setInput(new byte[8192]);
        d.finish();
        byte[] bomb = new byte[CompressedPage.MAX_LENGTH];
        int nb = d.deflate(bomb);
        assertTrue(assertThrows(CompressedPage.Malformed.class,
                () -> CompressedPage.decode(bomb, nb, new Inflater(), target)).getMessage().contains("more than 4096"));
        // a short page
        var s = new Deflater(1);
        s.setInput(new byte[100]);
        s.finish();
        byte[] shortPage = new byte[CompressedPage.MAX_LENGTH];
        int ns = s.deflate(shortPage);
        assertTrue(assertThrows(CompressedPage.Malformed.class,
                () -> CompressedPage.decode(shortPage, ns, new Inflater(), target)).getMessage().contains("inflates to 100"));
        // trailing bytes after a complete stream
        byte[] trailing = Arrays.copyOf(good, n + 2);
        assertTrue(assertThrows(CompressedPage.Malformed.class,
                () -> CompressedPage.decode(trailing, n + 2, new Inflater(), target)).getMessage().contains("after its zlib stream"));
    }
}
