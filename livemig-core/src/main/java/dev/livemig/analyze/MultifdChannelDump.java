package dev.livemig.analyze;

import dev.livemig.machine.RamBlock;
import dev.livemig.multifd.MalformedPayload;
import dev.livemig.multifd.MultifdPacket;
import dev.livemig.multifd.ZlibChannelCodec;
import dev.livemig.multifd.ZstdChannelCodec;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One captured multifd channel (its raw bytes from the initial packet on, §9) read alongside the main
 * stream: {@link #untilSync} delivers the pages of the packets up to the channel's next SYNC, as a 7.2
 * destination applies them before the main stream's RAM EOS goes on. The compression is what the packets
 * say; zlib and zstd streams run on per channel, as they were written.
 */
final class MultifdChannelDump implements AutoCloseable {
    /** One page from a channel and the share of the packet's bytes it stands for. */
    interface PageSink {
        void page(String block, long offset, byte[] data, long wireBytes) throws MigrationException;
    }

    private final Path file;
    private final FileChannel channel;
    private final StreamReader in;
    private final int id;
    private ZlibChannelCodec.Decoder zlib;
    private ZstdChannelCodec.Decoder zstd;

    MultifdChannelDump(Path file) throws MigrationException {
        this.file = file;
        try {
            this.channel = FileChannel.open(file, StandardOpenOption.READ);
        } catch (IOException e) {
            throw new MigrationException("cannot read multifd capture " + file + ": " + MigrationException.reason(e), e);
        }
        this.in = new StreamReader(channel);
        in.section("multifd capture " + file.getFileName());
        long at = in.offset();
        int magic = in.be32();
        if (magic != MultifdPacket.MAGIC) {
            throw in.errorAt(at, String.format("multifd: received packet magic %x and expected magic %x", magic, MultifdPacket.MAGIC));
        }
        int version = in.be32();
        if (version != MultifdPacket.VERSION) {
            throw in.errorAt(at, "multifd: received packet version " + Integer.toUnsignedLong(version) + " and expected version 1");
        }
        in.skip(16);
        this.id = in.u8();
        in.skip(7 + 32);
    }

    int id() {
        return id;
    }

    /** The packets up to and including the next SYNC (or the end of the capture). */
    void untilSync(Map<String, Long> blockLengths, PageSink sink) throws MigrationException {
        while (!in.atEnd()) {
            long at = in.offset();
            var p = MultifdPacket.Ram.read(in, blockLengths, MultifdPacket.ANY_COMPRESSION);
            int n = p.normalPages();
            List<byte[]> pages = new ArrayList<>(n);
            List<MemorySegment> targets = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                byte[] b = new byte[RamBlock.TARGET_PAGE_SIZE];
                pages.add(b);
                targets.add(MemorySegment.ofArray(b));
            }
            int method = p.flags() & MultifdPacket.COMPRESSION_MASK;
            if (n > 0 && method == 0) {
                for (MemorySegment t : targets) {
                    in.readFully(t);
                }
            } else if (n > 0) {
                int size = p.nextPacketSize();
                if (size < 0 || size > ZlibChannelCodec.MAX_PAYLOAD) {
                    throw in.errorAt(at, "multifd: compressed payload of " + Integer.toUnsignedString(size) + " bytes");
                }
                try {
                    if (method == MultifdPacket.COMPRESSION_ZLIB) {
                        zlib = zlib == null ? new ZlibChannelCodec.Decoder() : zlib;
                        in.readFully(MemorySegment.ofArray(zlib.input()).asSlice(0, size));
                        zlib.decode(size, targets);
                    } else if (method == MultifdPacket.COMPRESSION_ZSTD) {
                        zstd = zstd == null ? new ZstdChannelCodec.Decoder() : zstd;
                        in.readFully(zstd.input().asSlice(0, size));
                        zstd.decode(size, targets);
                    } else {
                        throw in.errorAt(at, String.format("multifd: unknown compression flags 0x%x", method));
                    }
                } catch (MalformedPayload e) {
                    throw in.errorAt(at, "multifd: " + e.getMessage());
                }
            }
            long wire = in.offset() - at;
            long[] offsets = p.offsets();
            for (int i = 0; i < n; i++) {
                sink.page(p.ramBlock(), offsets[i], pages.get(i), i == 0 ? wire : 0);
            }
            for (int i = n; i < offsets.length; i++) { // current QEMU's zero pages: no data on the wire
                sink.page(p.ramBlock(), offsets[i], new byte[RamBlock.TARGET_PAGE_SIZE], i == 0 ? wire : 0);
            }
            if (p.isSync()) {
                return;
            }
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
        try {
            channel.close();
        } catch (IOException ignored) {
            // read only: nothing is lost
        }
    }

    @Override
    public String toString() {
        return "multifd channel " + id + " (" + file + ")";
    }
}
