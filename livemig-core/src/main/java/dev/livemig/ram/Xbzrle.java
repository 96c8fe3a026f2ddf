package dev.livemig.ram;

import dev.livemig.machine.RamBlock;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * QEMU's XBZRLE page delta (migration/xbzrle.c): the XOR of the previous and the current version of a page
 * as alternating runs, each a ULEB128 length (one or two bytes): a run of unchanged bytes, then a run of
 * changed bytes followed by those bytes. Runs are maximal, the first unchanged run may be empty, a trailing
 * unchanged run is left out, and an unchanged page encodes to nothing. The encoder gives up (overflow)
 * exactly where QEMU's does, so a livemig stream chooses XBZRLE or a plain page as QEMU would.
 */
public final class Xbzrle {
    public static final int OVERFLOW = -1;
    private static final int PAGE = RamBlock.TARGET_PAGE_SIZE;
    private static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final long ONES = 0x0101010101010101L;
    private static final java.lang.foreign.ValueLayout.OfLong LONG_LE =
            java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final long HIGHS = 0x8080808080808080L;

    private Xbzrle() {
    }

    /**
     * Encodes the change from {@code old} to {@code cur} (both one page) into {@code dst} with at most
     * {@code dstLimit} bytes (QEMU passes a page); returns the length, 0 when nothing changed, or
     * {@link #OVERFLOW}.
     */
    public static int encode(byte[] old, byte[] cur, byte[] dst, int dstLimit) {
        int i = 0;
        int d = 0;
        while (i < PAGE) {
            if (d + 2 > dstLimit) {
                return OVERFLOW;
            }
            int zrunStart = i;
            int differs = java.util.Arrays.mismatch(old, i, PAGE, cur, i, PAGE); // vectorized by the JIT
            i = differs < 0 ? PAGE : i + differs;
            if (i == PAGE) {
                return zrunStart == 0 ? 0 : d; // unchanged page, or a trailing unchanged run left out
            }
            d = uleb(dst, d, i - zrunStart);
            if (d + 2 > dstLimit) {
                return OVERFLOW;
            }
            int nzrunStart = i;
            while (i < PAGE) {
                if (i + 8 <= PAGE) {
                    long x = (long) LONGS.get(old, i) ^ (long) LONGS.get(cur, i);
                    if (((x - ONES) & ~x & HIGHS) == 0) { // no equal byte in these eight
                        i += 8;
                        continue;
                    }
                }
                while (i < PAGE && old[i] != cur[i]) {
                    i++;
                }
                break;
            }
            int n = i - nzrunStart;
            d = uleb(dst, d, n);
            if (d + n > dstLimit) {
                return OVERFLOW;
            }
            System.arraycopy(cur, nzrunStart, dst, d, n);
            d += n;
        }
        return d;
    }

    private static int uleb(byte[] dst, int d, int v) {
        if (v < 0x80) {
            dst[d] = (byte) v;
            return d + 1;
        }
        dst[d] = (byte) (v & 0x7f | 0x80);
        dst[d + 1] = (byte) (v >>> 7);
        return d + 2;
    }

    /** Why a delta was refused; the loader adds the record's offset. */
    public static final class Malformed extends Exception {
        Malformed(String message) {
            super(message);
        }
    }

    /**
     * Applies {@code len} bytes of delta from {@code src} onto {@code page} (the destination's current copy
     * of it), with QEMU's decoder's rules: every run but the first unchanged one non-empty, lengths of one or
     * two ULEB128 bytes, nothing past the page or the delta. Returns the bytes of the page it reached.
     */
    public static int decode(byte[] src, int len, java.lang.foreign.MemorySegment page) throws Malformed {
        if (len < 0 || len > src.length) {
            throw new Malformed("xbzrle delta of " + len + " bytes in a buffer of " + src.length);
        }
        // the loop checks as it goes and leaves at the first fault; explain() then says what it was. Its two
        // ULEB128 reads are written out: a shared helper returning a packed value halved the throughput (JMH)
        int i = 0;
        int d = 0;
        int leastZeros = 0; // only the first unchanged run may be empty
        while (i < len) {
            if (len - i < 2) {
                return explain(src, len);
            }
            int b = src[i];
            int zeros;
            if (b >= 0) {
                zeros = b;
                i++;
            } else {
                int b1 = src[i + 1];
                if (b1 < 0) {
                    return explain(src, len);
                }
                zeros = (b & 0x7f) | b1 << 7;
                i += 2;
            }
            d += zeros;
            if (zeros < leastZeros || d > PAGE || len - i < 2) {
                return explain(src, len);
            }
            b = src[i];
            int n;
            if (b >= 0) {
                n = b;
                i++;
            } else {
                int b1 = src[i + 1];
                if (b1 < 0) {
                    return explain(src, len);
                }
                n = (b & 0x7f) | b1 << 7;
                i += 2;
            }
            if (n == 0 || n > PAGE - d || n > len - i) {
                return explain(src, len);
            }
            if (n <= 8 && d <= PAGE - 8 && i <= src.length - 8) {
                // most runs are a few bytes: merge them into the page's word instead of a copy call, which costs
                // more than the bytes it moves (the word's other bytes are written back as they were)
                long keep = -1L << (n * 8 - 1) << 1; // the word's bytes past the run (none when n is 8)
                long word = page.get(LONG_LE, d);
                page.set(LONG_LE, d, (word & keep) | ((long) LONGS.get(src, i) & ~keep));
            } else {
                java.lang.foreign.MemorySegment.copy(src, i, page, java.lang.foreign.ValueLayout.JAVA_BYTE, d, n);
            }
            d += n;
            i += n;
            leastZeros = 1;
        }
        return d;
    }

    /** Walks a delta that {@link #decode} found at fault, with QEMU's decoder's rules, to name the fault. */
    private static int explain(byte[] src, int len) throws Malformed {
        int i = 0;
        int d = 0;
        while (i < len) {
            if (len - i < 2) {
                throw new Malformed("xbzrle delta ends inside a run header at byte " + i);
            }
            int run = readUleb(src, i, len);
            if (i > 0 && run >>> 2 == 0) {
                throw new Malformed("xbzrle delta has an empty unchanged run at byte " + i);
            }
            i += run & 3;
            d += run >>> 2;
            if (d > PAGE) {
                throw new Malformed("xbzrle delta runs past the page: position " + d);
            }
            if (len - i < 2) {
                throw new Malformed("xbzrle delta ends before a changed run at byte " + i);
            }
            run = readUleb(src, i, len);
            if (run >>> 2 == 0) {
                throw new Malformed("xbzrle delta has an empty changed run at byte " + i);
            }
            i += run & 3;
            int n = run >>> 2;
            if (d + n > PAGE || i + n > len) {
                throw new Malformed("xbzrle changed run of " + n + " bytes at page position " + d + " exceeds the "
                        + (d + n > PAGE ? "page" : "delta"));
            }
            d += n;
            i += n;
        }
        throw new IllegalStateException("xbzrle: the decoder stopped on a delta its rules accept");
    }

    /** The value shifted left by two, or'ed with the bytes used; QEMU's small ULEB128 allows two at most. */
    private static int readUleb(byte[] src, int i, int len) throws Malformed {
        int b0 = src[i] & 0xff;
        if ((b0 & 0x80) == 0) {
            return b0 << 2 | 1;
        }
        int b1 = src[i + 1] & 0xff;
        if ((b1 & 0x80) != 0) {
            throw new Malformed("xbzrle run length longer than two ULEB128 bytes at byte " + i);
        }
        return ((b0 & 0x7f) | b1 << 7) << 2 | 2;
    }
}
