package dev.livemig.machine;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * One bit per page, safe for concurrent setters and a single consumer that tests-and-clears.
 *
 * <p>Used twice per RAM block, as in QEMU: the block's dirty log (written by the application's mutator
 * threads) and the migration bitmap (pages still to send; fed from the log at each sync).
 */
public final class DirtyBitmap {
    private static final VarHandle WORD = MethodHandles.arrayElementVarHandle(long[].class);

    private final long[] words;
    private final long bits;

    /**
     * A bitmap of {@code bits} bits, all clear.
     *
     * @throws IllegalArgumentException if {@code bits} is negative or needs more than Integer.MAX_VALUE words
     */
    public DirtyBitmap(long bits) {
        if (bits < 0 || (bits + 63) / 64 > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("bitmap size out of range: " + bits);
        }
        this.bits = bits;
        this.words = new long[(int) ((bits + 63) / 64)];
    }

    /** The number of bits. */
    public long size() {
        return bits;
    }

    /** Sets the bit, which must be below {@link #size()} (not checked); any number of threads may set bits at once. */
    public void set(long bit) {
        int w = (int) (bit >>> 6);
        long mask = 1L << (bit & 63);
        if ((words[w] & mask) == 0) { // already-set bits are the common case under a hot mutator
            WORD.getAndBitwiseOr(words, w, mask);
        }
    }

    /** Whether the bit is set (a volatile read); {@code bit} must be below {@link #size()} (not checked). */
    public boolean get(long bit) {
        return ((long) WORD.getVolatile(words, (int) (bit >>> 6)) & (1L << (bit & 63))) != 0;
    }

    /** Clears the bit and says whether it was set. */
    public boolean testAndClear(long bit) {
        int w = (int) (bit >>> 6);
        long mask = 1L << (bit & 63);
        return ((long) WORD.getAndBitwiseAnd(words, w, ~mask) & mask) != 0;
    }

    /** Sets bits [from, to). */
    public void setRange(long from, long to) {
        for (long b = from; b < to; ) {
            if ((b & 63) == 0 && to - b >= 64) {
                WORD.setVolatile(words, (int) (b >>> 6), -1L);
                b += 64;
            } else {
                set(b++);
            }
        }
    }

    /** Sets every bit: a first pass sends every page. */
    public void setAll() {
        setRange(0, bits);
    }

    /** Index of the first set bit at or after {@code from}, or -1. */
    public long nextSet(long from) {
        if (from >= bits) {
            return -1;
        }
        int w = (int) (from >>> 6);
        long word = (long) WORD.getVolatile(words, w) & (-1L << (from & 63));
        while (true) {
            if (word != 0) {
                long bit = ((long) w << 6) + Long.numberOfTrailingZeros(word);
                return bit < bits ? bit : -1;
            }
            if (++w >= words.length) {
                return -1;
            }
            word = (long) WORD.getVolatile(words, w);
        }
    }

    /** Index of the first clear bit at or after {@code from}, or {@link #size()} when there is none. */
    public long nextClear(long from) {
        if (from >= bits) {
            return bits;
        }
        int w = (int) (from >>> 6);
        long word = ~(long) WORD.getVolatile(words, w) & (-1L << (from & 63));
        while (true) {
            if (word != 0) {
                return Math.min(bits, ((long) w << 6) + Long.numberOfTrailingZeros(word));
            }
            if (++w >= words.length) {
                return bits;
            }
            word = ~(long) WORD.getVolatile(words, w);
        }
    }

    /**
     * Moves every set bit of this bitmap into {@code target} (OR), clearing it here; returns how many bits
     * became newly set in the target. This is QEMU's per-iteration sync of the dirty log into the
     * migration bitmap.
     */
    public long drainInto(DirtyBitmap target) {
        if (target.bits != bits) {
            throw new IllegalArgumentException("bitmap sizes differ: " + bits + " vs " + target.bits);
        }
        long added = 0;
        for (int i = 0; i < words.length; i++) {
            if (words[i] == 0) {
                continue;
            }
            long w = (long) WORD.getAndSet(words, i, 0L);
            long before = (long) WORD.getAndBitwiseOr(target.words, i, w);
            added += Long.bitCount(w & ~before);
        }
        return added;
    }

    /** The number of set bits; with setters running, a count some time during the call. */
    public long count() {
        long n = 0;
        for (int i = 0; i < words.length; i++) {
            n += Long.bitCount((long) WORD.getVolatile(words, i));
        }
        return n;
    }

    /** Clears every bit; a bit set concurrently may survive or not. */
    public void clear() {
        for (int i = 0; i < words.length; i++) {
            WORD.setVolatile(words, i, 0L);
        }
    }
}
