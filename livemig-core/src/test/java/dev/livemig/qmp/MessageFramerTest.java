package dev.livemig.qmp;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.IntUnaryOperator;

import static org.junit.jupiter.api.Assertions.*;

/** How a byte stream is cut into QMP messages, whatever reads the socket returns, and what the cutting holds. */
class MessageFramerTest {
    private static final int CAP = 1 << 16;

    /** Hands out {@code bytes} in reads of the sizes {@code chunk} picks (at least one byte), then the end of stream. */
    private static final class ChunkedChannel implements ReadableByteChannel {
        private final ByteBuffer bytes;
        private final IntUnaryOperator chunk;
        private final Runnable atEnd;

        ChunkedChannel(byte[] bytes, IntUnaryOperator chunk, Runnable atEnd) {
            this.bytes = ByteBuffer.wrap(bytes);
            this.chunk = chunk;
            this.atEnd = atEnd;
        }

        @Override
        public int read(ByteBuffer dst) {
            if (!bytes.hasRemaining()) {
                atEnd.run();
                return -1;
            }
            int n = Math.min(Math.min(dst.remaining(), bytes.remaining()), Math.max(1, chunk.applyAsInt(bytes.remaining())));
            dst.put(bytes.slice().limit(n));
            bytes.position(bytes.position() + n);
            return n;
        }

        @Override
        public boolean isOpen() {
            return true;
        }

        @Override
        public void close() {
        }
    }

    /** One read for everything, one byte per read, and seeded random read sizes. */
    private static List<IntUnaryOperator> chunkings(long seed) {
        var random = new Random(seed);
        return List.of(left -> left, left -> 1, left -> 1 + random.nextInt(Math.min(left, 37)));
    }

    private static List<String> frames(byte[] input, IntUnaryOperator chunk, ByteBudget budget, int cap) throws Exception {
        var f = new MessageFramer(new ChunkedChannel(input, chunk, () -> { }), cap, budget);
        List<String> out = new ArrayList<>();
        byte[] m;
        while ((m = f.next()) != null) {
            out.add(new String(m, StandardCharsets.UTF_8));
            assertEquals(0, budget.used(), "a complete message gives back all it held");
        }
        return out;
    }

    /** The frames of {@code input}, checked to be the same under every chunking. */
    private static List<String> frames(String input) throws Exception {
        return frames(input.getBytes(StandardCharsets.UTF_8), CAP);
    }

    private static List<String> frames(byte[] input, int cap) throws Exception {
        List<String> once = null;
        for (IntUnaryOperator chunk : chunkings(input.length)) {
            List<String> got = frames(input, chunk, new ByteBudget(1 << 20), cap);
            if (once == null) {
                once = got;
            }
            assertEquals(once, got, "the same messages whatever the reads return");
        }
        return once;
    }

    @Test
    void objectsEndWhenBalancedWithOrWithoutNewlines() throws Exception {
        assertEquals(List.of("{\"a\": [1, {\"b\": 2}]}", "{\"c\": 3}"), frames("  {\"a\": [1, {\"b\": 2}]}{\"c\": 3}\r\n"));
    }

    @Test
    void bracesAndEscapedQuotesInStringsOfEitherQuoteDoNotCount() throws Exception {
        assertEquals(List.of("{\"id\": \"}\\\"{]'\"}"), frames("{\"id\": \"}\\\"{]'\"}"));
        assertEquals(List.of("{'id': '}\\'{]\"'}"), frames("{'id': '}\\'{]\"'}"));
        assertEquals(List.of("{\"é\": \"ü\"}"), frames("{\"é\": \"ü\"}"));
    }

    @Test
    void strayClosersAndBareScalarsAreCutSoTheyCanBeRefused() throws Exception {
        assertEquals(List.of("{\"a\": 1]", "}"), frames("{\"a\": 1]}\n"));
        assertEquals(List.of("42\n", "\"x\"\n", "'y'\n"), frames("42\n\"x\"\n'y'\n"));
    }

    @Test
    void aControlCharacterOrAnImpossibleByteEndsTheMessageAndTheNextStartsAfresh() throws Exception {
        // QMP's documented way for a client to put the server's parser back into a known state
        assertEquals(List.of("{\"execute\": \"sto\u0001", "{\"execute\": \"stop\"}"),
                frames("{\"execute\": \"sto\u0001{\"execute\": \"stop\"}"));
        assertEquals(List.of("{\"a\": [\u0002", "{}"), frames("{\"a\": [\u0002{}"));
        assertEquals(List.of("{\"a\": \"x\n", "{}"), frames("{\"a\": \"x\n{}"), "a raw newline cannot be in a string");
        byte[] ff = "{\"a\": \u0000{}".getBytes(StandardCharsets.UTF_8);
        ff[6] = (byte) 0xff;
        List<String> split = frames(ff, CAP);
        assertEquals(2, split.size(), split.toString());
        assertEquals("{}", split.get(1));
    }

    @Test
    void aPartialMessageAtTheEndIsDroppedAndItsBytesGivenBack() throws Exception {
        var budget = new ByteBudget(1 << 20);
        long[] heldAtTheEnd = new long[1];
        byte[] input = ("{}{\"execute\": \"" + "s".repeat(3000)).getBytes(StandardCharsets.UTF_8);
        var f = new MessageFramer(new ChunkedChannel(input, left -> 100, () -> heldAtTheEnd[0] = budget.used()), CAP, budget);
        assertEquals("{}", new String(f.next(), StandardCharsets.UTF_8));
        assertNull(f.next());
        assertEquals(4096, heldAtTheEnd[0], "3000 bytes held in a buffer grown by doubling from 1 KiB");
        assertEquals(0, budget.used());
    }

    @Test
    void theCapCountsOneMessageOnly() throws Exception {
        byte[] two = "{\"a\": 1}{\"b\": 2}".getBytes(StandardCharsets.UTF_8);
        assertEquals(List.of("{\"a\": 1}", "{\"b\": 2}"), frames(two, 8));
        var budget = new ByteBudget(1 << 20);
        byte[] long9 = "{\"a\": 12}".getBytes(StandardCharsets.UTF_8);
        var e = assertThrows(MessageFramer.OversizedMessageException.class, () -> frames(long9, left -> 1, budget, 8));
        assertEquals("JSON message exceeds 8 bytes, the largest this QMP server takes; the connection is closed", e.getMessage());
        assertEquals(0, budget.used(), "the refused message's bytes are given back");
    }

    @Test
    void aMessageNeedingMoreThanTheSharedBudgetHasLeftIsRefused() throws Exception {
        var budget = new ByteBudget(4096);
        assertTrue(budget.tryTake(2048)); // what other clients' unfinished messages hold
        byte[] input = ("{\"id\": \"" + "x".repeat(3000) + "\"}").getBytes(StandardCharsets.UTF_8);
        var e = assertThrows(MessageFramer.OversizedMessageException.class, () -> frames(input, left -> left, budget, CAP));
        assertTrue(e.getMessage().startsWith("JSON message refused: this QMP server holds at most 4096 bytes of unfinished messages"),
                e.getMessage());
        assertEquals(2048, budget.used(), "the refused client gives back what it held; the others keep theirs");
    }

    /** Any sequence of messages, cut by any reads, comes out as the same messages. */
    @Property(tries = 300)
    void randomChunkingNeverChangesTheMessages(@ForAll @Size(max = 8) List<@IntRange(min = 0, max = 6) Integer> picks,
                                               @ForAll long seed) throws Exception {
        String[] samples = {
                "{\"execute\": \"query-status\"}",
                "{'execute': 'stop', 'id': '}{\\''}",
                "{\"execute\": \"x\", \"arguments\": {\"a\": [\"]\", {\"b\": \"\\\\\"}]}}",
                "[1, [2, [3]]]",
                "{\"id\": \"é€\uD83D\uDE00\"}",
                "{\"a\": \"\\\"}\"}",
                "{}",
        };
        var all = new ByteArrayOutputStream();
        List<String> expected = new ArrayList<>();
        for (int p : picks) {
            all.write(samples[p].getBytes(StandardCharsets.UTF_8));
            all.write(p % 2 == 0 ? '\n' : ' ');
            expected.add(samples[p]);
        }
        var random = new Random(seed);
        List<String> got = frames(all.toByteArray(), left -> 1 + random.nextInt(Math.min(left, 64)), new ByteBudget(1 << 20), CAP);
        assertEquals(expected, got);
    }
}
