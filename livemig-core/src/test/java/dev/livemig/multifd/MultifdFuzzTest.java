package dev.livemig.multifd;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.livemig.fuzz.SeedCorpus;
import dev.livemig.fuzz.UntrustedInput;
import dev.livemig.machine.RamBlock;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One multifd channel as {@link MultifdReceiver}'s channel thread reads it: the initial packet, then the
 * page packets through the receiver's own {@link MultifdPageReader}, raw or through the channel's zlib or zstd
 * decoder. Run on the calling thread, without the receiver's threads: the receiver turns every exception of
 * its threads into a failure text, which would hide a RuntimeException from the fuzzer. Seeds: a channel of each compression with a page packet (a zero page, a patterned one)
 * and a SYNC.
 */
class MultifdFuzzTest {
    private static final long BLOCK_BYTES = 8 * RamBlock.TARGET_PAGE_SIZE;

    private static final int[] COMPRESSIONS = {0, MultifdPacket.COMPRESSION_ZLIB, MultifdPacket.COMPRESSION_ZSTD};

    /** Input: a byte choosing the compression (none, zlib, zstd: its value modulo 3), then the channel's bytes. */
    @FuzzTest(maxDuration = "5s")
    void readsAMultifdChannel(byte[] input) {
        int compression = input.length == 0 ? 0 : COMPRESSIONS[(input[0] & 0xff) % 3];
        byte[] channel = input.length == 0 ? input : Arrays.copyOfRange(input, 1, input.length);
        try (Arena arena = Arena.ofConfined()) {
            RamBlock block = RamBlock.anonymous(arena, "pc.ram", BLOCK_BYTES);
            UntrustedInput.parse(MigrationException.class, () -> read(StreamReader.of(channel), compression, block));
        }
    }

    private static void read(StreamReader in, int compression, RamBlock block) throws MigrationException {
        MultifdPacket.Initial.read(in, new byte[16], 2);
        try (var pages = new MultifdPageReader(compression, Map.of(block.name(), block), Map.of(block.name(), block.usedLength()), name -> { })) {
            pages.readUntilEnd(in, () -> { });
        }
    }

    @Test
    void corpusHoldsTheSeeds() throws Exception {
        var seeds = new LinkedHashMap<String, byte[]>();
        String[] names = {"none", "zlib", "zstd"};
        for (int c = 0; c < 3; c++) {
            seeds.put(names[c], channel(c));
        }
        SeedCorpus.check(MultifdFuzzTest.class, "readsAMultifdChannel", seeds);
    }

    /** A channel as a sender with compression {@code COMPRESSIONS[choice]} writes it, behind the choice byte. */
    private static byte[] channel(int choice) throws MigrationException {
        int compression = COMPRESSIONS[choice];
        var out = StreamWriter.inMemory().u8(choice);
        new MultifdPacket.Initial(new byte[16], 1).write(out);
        try (Arena arena = Arena.ofConfined()) {
            RamBlock block = RamBlock.anonymous(arena, "pc.ram", BLOCK_BYTES);
            block.page(RamBlock.TARGET_PAGE_SIZE).fill((byte) 0x42);
            List<MemorySegment> pages = List.of(block.page(0), block.page(RamBlock.TARGET_PAGE_SIZE));
            long[] offsets = {0, RamBlock.TARGET_PAGE_SIZE};
            if (compression == 0) {
                new MultifdPacket.Ram(0, 2, 0, 1, "pc.ram", offsets).write(out);
                pages.forEach(p -> copy(out, p));
            } else if (compression == MultifdPacket.COMPRESSION_ZLIB) {
                try (var zlib = new ZlibChannelCodec.Encoder(1)) {
                    int n = zlib.encode(pages);
                    new MultifdPacket.Ram(compression, 2, n, 1, "pc.ram", offsets).write(out);
                    out.bytes(zlib.payload(), 0, n);
                }
            } else {
                try (var zstd = new ZstdChannelCodec.Encoder(1)) {
                    int n = zstd.encode(pages);
                    new MultifdPacket.Ram(compression, 2, n, 1, "pc.ram", offsets).write(out);
                    var payload = zstd.payload();
                    byte[] b = new byte[n];
                    payload.get(payload.position(), b);
                    out.bytes(b);
                }
            }
            new MultifdPacket.Ram(MultifdPacket.FLAG_SYNC, 0, 0, 2, "", new long[0]).write(out);
            return out.toByteArray();
        }
    }

    private static void copy(StreamWriter out, MemorySegment page) {
        try {
            out.copy(page);
        } catch (MigrationException e) {
            throw new IllegalStateException(e);
        }
    }
}
