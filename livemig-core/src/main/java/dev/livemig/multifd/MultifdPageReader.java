package dev.livemig.multifd;

import dev.livemig.machine.RamBlock;
import dev.livemig.ram.ZeroPageDetector;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The page packets of one multifd channel, after its initial packet: each header is checked against the
 * local RAM blocks and its pages are placed straight into guest memory, raw or through the channel's own
 * zlib or zstd stream. One per channel (a decoder's state belongs to its channel's stream).
 */
final class MultifdPageReader implements AutoCloseable {
    /** What a channel does at a SYNC packet (the receiver parks it there until the load's sync point). */
    interface SyncPoint {
        void reached() throws MigrationException;
    }

    private final int compression;
    private final Map<String, RamBlock> blocks;
    private final Map<String, Long> lengths;
    private final ZlibChannelCodec.Decoder zlib;
    private final ZstdChannelCodec.Decoder zstd;
    private volatile long pagesPlaced; // written by the channel's thread only
    private final java.util.function.Consumer<String> blockFed;

    /** {@code compression}: MultifdPacket.COMPRESSION_* or 0; {@code lengths}: each block's used length. */
    MultifdPageReader(int compression, Map<String, RamBlock> blocks, Map<String, Long> lengths,
                      java.util.function.Consumer<String> blockFed) {
        this.blockFed = blockFed;
        this.compression = compression;
        this.blocks = blocks;
        this.lengths = lengths;
        this.zlib = compression == MultifdPacket.COMPRESSION_ZLIB ? new ZlibChannelCodec.Decoder() : null;
        this.zstd = compression == MultifdPacket.COMPRESSION_ZSTD ? new ZstdChannelCodec.Decoder() : null;
    }

    /** Reads packets until the channel ends, calling {@code atSync} after each SYNC packet's pages are placed. */
    void readUntilEnd(StreamReader in, SyncPoint atSync) throws MigrationException {
        while (!in.atEnd()) {
            long at = in.offset();
            var p = MultifdPacket.Ram.read(in, lengths, compression);
            long[] offsets = p.offsets();
            if (offsets.length > 0) {
                blockFed.accept(p.ramBlock());
            }
            List<MemorySegment> pages = new ArrayList<>(p.normalPages());
            for (int i = 0; i < p.normalPages(); i++) {
                pages.add(blocks.get(p.ramBlock()).page(offsets[i]));
            }
            if (p.normalPages() > 0) {
                place(in, at, p, pages);
            }
            for (int i = p.normalPages(); i < offsets.length; i++) {
                // zero pages carry no data; fresh memory is zero already, a page that held data is cleared
                MemorySegment page = blocks.get(p.ramBlock()).page(offsets[i]);
                if (!ZeroPageDetector.isZero(page)) {
                    page.fill((byte) 0);
                }
            }
            pagesPlaced = pagesPlaced + offsets.length;
            if (p.isSync()) {
                atSync.reached();
            }
        }
    }

    /** Pages placed so far, normal and zero (any thread may ask). */
    long pagesPlaced() {
        return pagesPlaced;
    }

    private void place(StreamReader in, long at, MultifdPacket.Ram p, List<MemorySegment> pages) throws MigrationException {
        if (compression == 0) {
            in.readFully(pages);
            return;
        }
        int n = p.nextPacketSize();
        if (n < 0 || n > ZlibChannelCodec.MAX_PAYLOAD) {
            throw in.errorAt(at, "multifd: compressed payload of " + Integer.toUnsignedString(n) + " bytes");
        }
        try {
            if (zlib != null) {
                in.readFully(MemorySegment.ofArray(zlib.input()).asSlice(0, n));
                zlib.decode(n, pages);
            } else {
                in.readFully(zstd.input().asSlice(0, n));
                zstd.decode(n, pages);
            }
        } catch (MalformedPayload e) {
            throw in.errorAt(at, "multifd: " + e.getMessage());
        }
    }

    @Override
    public void close() {
        if (zlib != null) {
            zlib.close();
        }
        if (zstd != null) {
            zstd.close();
        }
    }
}
