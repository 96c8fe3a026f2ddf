package dev.livemig.wire;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** Reading a run of pages straight into their segments: buffered bytes first, then scattering reads. */
class StreamReaderScatterTest {
    @Test
    void pagesArriveWholeAfterAHeaderAndTheOffsetFollows() throws Exception {
        byte[] data = new byte[16 + 64 * 4096 + 8];
        new Random(5).nextBytes(data);
        Pipe pipe = Pipe.open();
        Thread writer = Thread.ofPlatform().start(() -> {
            try (var sink = pipe.sink()) {
                ByteBuffer b = ByteBuffer.wrap(data);
                while (b.hasRemaining()) {
                    sink.write(b);
                }
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        try (Arena arena = Arena.ofConfined()) {
            var in = new StreamReader(pipe.source(), 4096);
            in.bytes(16); // a header: the buffer now holds part of the first page too
            var pages = new java.util.ArrayList<MemorySegment>();
            for (int i = 0; i < 64; i++) {
                pages.add(arena.allocate(4096));
            }
            in.readFully(pages);
            for (int i = 0; i < 64; i++) {
                assertArrayEquals(java.util.Arrays.copyOfRange(data, 16 + i * 4096, 16 + (i + 1) * 4096),
                        pages.get(i).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), "page " + i);
            }
            assertEquals(16 + 64 * 4096, in.offset());
            assertEquals(java.nio.ByteBuffer.wrap(data, data.length - 8, 8).getLong(), in.be64(), "what follows is read as usual");
        }
        writer.join();
    }

    @Test
    void aStreamThatEndsInsideThePagesSaysWhereAndHowMuchIsMissing() throws Exception {
        Pipe pipe = Pipe.open();
        try (var sink = pipe.sink()) {
            sink.write(ByteBuffer.wrap(new byte[10_000]));
        }
        try (Arena arena = Arena.ofConfined()) {
            var in = new StreamReader(pipe.source(), 4096);
            var e = assertThrows(MigrationException.class,
                    () -> in.readFully(List.of(arena.allocate(4096), arena.allocate(4096), arena.allocate(4096))));
            assertTrue(e.getMessage().contains("truncated stream: wanted 2288 more bytes"), e.getMessage());
            assertEquals(10_000, e.offset());
        }
    }
}
