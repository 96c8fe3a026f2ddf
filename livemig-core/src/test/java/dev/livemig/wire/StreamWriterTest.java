package dev.livemig.wire;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.GatheringByteChannel;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class StreamWriterTest {

    @Test
    void writesBigEndianPrimitivesAndStr8() throws Exception {
        var w = StreamWriter.inMemory();
        w.u8(0x7e).be16(0x1234).be32(0xdeadbeef).be64(0x0102030405060708L).str8("ram");
        assertEquals("7e" + "1234" + "deadbeef" + "0102030405060708" + "03" + "72616d",
                HexFormat.of().formatHex(w.toByteArray()));
    }

    @Test
    void offsetCountsBufferedAndQueuedBytes() throws Exception {
        var w = StreamWriter.inMemory();
        try (Arena arena = Arena.ofConfined()) {
            w.be64(1);
            w.page(arena.allocate(4096));
            w.u8(1);
            assertEquals(8 + 4096 + 1, w.offset());
            assertEquals(8 + 4096 + 1, w.toByteArray().length);
            assertEquals(8 + 4096 + 1, w.offset());
        }
    }

    @Test
    void pagesAreGatheredByReferenceNotCopied() throws Exception {
        var channel = new RecordingGatherChannel();
        var w = new StreamWriter(channel);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment page = arena.allocate(4096);
            page.fill((byte) 1);
            w.be64(8).page(page).be64(16);
            page.fill((byte) 2); // still queued: the writer must send what the page holds at flush time
            w.flush();
        }
        byte[] out = channel.bytes.toByteArray();
        assertEquals(8 + 4096 + 8, out.length);
        assertEquals(2, out[8]);
        assertTrue(channel.gatheringWrites > 0, "pages go out through gathering writes");
    }

    @Test
    void longPayloadsAcrossManyFlushesArriveInOrder() throws Exception {
        var w = StreamWriter.inMemory();
        try (Arena arena = Arena.ofConfined()) {
            List<MemorySegment> pages = new ArrayList<>();
            for (int i = 0; i < 1000; i++) {
                MemorySegment p = arena.allocate(4096);
                p.fill((byte) i);
                pages.add(p);
                w.be32(i).page(p);
            }
            var r = StreamReader.of(w.toByteArray());
            for (int i = 0; i < 1000; i++) {
                assertEquals(i, r.be32());
                MemorySegment got = arena.allocate(4096);
                r.readFully(got);
                assertEquals(-1, got.mismatch(pages.get(i)));
            }
            assertTrue(r.atEnd());
        }
    }

    @Test
    void str8LongerThan255IsACallerBug() {
        var w = StreamWriter.inMemory();
        assertThrows(IllegalArgumentException.class, () -> w.str8("x".repeat(256)));
    }

    @Test
    void writeToAClosedPeerIsAMigrationExceptionWithOffset() throws Exception {
        var broken = new java.nio.channels.WritableByteChannel() {
            @Override
            public int write(ByteBuffer src) throws java.io.IOException {
                throw new java.io.IOException("Broken pipe");
            }

            @Override
            public boolean isOpen() {
                return true;
            }

            @Override
            public void close() {
            }
        };
        var w = new StreamWriter(broken);
        w.be64(1);
        var e = assertThrows(MigrationException.class, w::flush);
        assertTrue(e.getMessage().contains("Broken pipe"), e.getMessage());
        assertEquals(0, e.offset());
    }

    /** A gathering channel that records what it was given. */
    static final class RecordingGatherChannel implements GatheringByteChannel {
        final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int gatheringWrites;
        private final java.nio.channels.WritableByteChannel sink = Channels.newChannel(bytes);

        @Override
        public long write(ByteBuffer[] srcs, int offset, int length) throws java.io.IOException {
            gatheringWrites++;
            long n = 0;
            for (int i = offset; i < offset + length; i++) {
                n += sink.write(srcs[i]);
            }
            return n;
        }

        @Override
        public long write(ByteBuffer[] srcs) throws java.io.IOException {
            return write(srcs, 0, srcs.length);
        }

        @Override
        public int write(ByteBuffer src) throws java.io.IOException {
            return sink.write(src);
        }

        @Override
        public boolean isOpen() {
            return true;
        }

        @Override
        public void close() {
        }
    }
}
