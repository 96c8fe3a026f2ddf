package dev.livemig.multifd;

import dev.livemig.machine.RamBlock;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;

/**
 * The two kinds of packet on a multifd channel (§9.1–§9.3 of the format reference): the 64-byte {@link Initial}
 * packet that opens a channel, and the {@link Ram} packet header (1344 bytes for 4 KiB pages) that precedes each
 * batch of pages, in QEMU 7.2's layout and in current QEMU's, which is the same with a zero-page count in the
 * first reserved word (9.0+) and SYNC packets that leave pages_alloc 0 but keep the full size. Decoding checks
 * what QEMU's receiver checks, in its order, and never sizes anything by a received number: the offset array
 * is always {@link #PAGES_PER_PACKET} long.
 */
public sealed interface MultifdPacket {
    int MAGIC = 0x11223344;
    int VERSION = 1;
    /** 512 KiB of 4 KiB pages: 7.2's pages_alloc, and the most a receiver accepts. */
    int PAGES_PER_PACKET = (512 << 10) / RamBlock.TARGET_PAGE_SIZE;
    int INITIAL_SIZE = 64;
    int RAM_HEADER_SIZE = 320 + 8 * PAGES_PER_PACKET;
    int FLAG_SYNC = 0x1;
    int COMPRESSION_MASK = 0xe;
    int COMPRESSION_ZLIB = 0x2;
    int COMPRESSION_ZSTD = 0x4;
    int BLOCK_NAME_BYTES = 256;
    /** For {@link Ram#read}: accept the packet's own compression flags. */
    int ANY_COMPRESSION = -1;

    /** A channel's first bytes: the source VM's UUID (16 bytes, zero without -uuid) and the channel number. */
    record Initial(byte[] uuid, int channelId) implements MultifdPacket {
        public Initial {
            if (uuid.length != 16 || channelId < 0 || channelId > 255) {
                throw new IllegalArgumentException("uuid of 16 bytes and a channel id 0..255");
            }
            uuid = uuid.clone();
        }

        @Override
        public byte[] uuid() {
            return uuid.clone();
        }

        public void write(StreamWriter out) throws MigrationException {
            out.be32(MAGIC).be32(VERSION).bytes(uuid).u8(channelId).bytes(new byte[7 + 32]);
        }

        /**
         * Reads and checks an initial packet as QEMU's receiver does: magic, version, the UUID this end expects
         * (null: any), and a channel id below {@code channels}.
         */
        public static Initial read(StreamReader in, byte[] expectedUuid, int channels) throws MigrationException {
            long at = in.offset();
            int magic = in.be32();
            if (magic != MAGIC) {
                throw in.errorAt(at, String.format("multifd: received packet magic %x and expected magic %x", magic, MAGIC));
            }
            int version = in.be32();
            if (version != VERSION) {
                throw in.errorAt(at, String.format("multifd: received packet version %d and expected version %d",
                        Integer.toUnsignedLong(version), VERSION));
            }
            byte[] uuid = in.bytes(16);
            int id = in.u8();
            in.skip(7 + 32);
            if (expectedUuid != null && !Arrays.equals(uuid, expectedUuid)) {
                throw in.errorAt(at, "multifd: received uuid " + hex(uuid) + " and expected uuid " + hex(expectedUuid)
                        + " for channel " + id);
            }
            // QEMU 7.2 checks id > channels, one too late; livemig refuses the id that has no channel
            if (id >= channels) {
                throw in.errorAt(at, "multifd: received channel id " + id + " but only " + channels + " channels are set up");
            }
            return new Initial(uuid, id);
        }

        private static String hex(byte[] b) {
            return java.util.HexFormat.of().formatHex(b);
        }
    }

    /**
     * A page batch header: {@code offsets} holds the page offsets within {@code ramBlock}, first the
     * {@code normalPages} whose data follows, then the {@code zeroPages} that are all zero and have no data
     * (current QEMU with zero-page-detection=multifd; always 0 from 7.2); {@code nextPacketSize} is the byte
     * count of compressed data that follows (page data follows uncompressed otherwise).
     */
    record Ram(int flags, int normalPages, int zeroPages, int nextPacketSize, long packetNum, String ramBlock,
               long[] offsets) implements MultifdPacket {
        public Ram {
            if (normalPages < 0 || zeroPages < 0 || normalPages + zeroPages > PAGES_PER_PACKET
                    || offsets.length < normalPages + zeroPages) {
                throw new IllegalArgumentException("0.." + PAGES_PER_PACKET + " pages with their offsets");
            }
            offsets = Arrays.copyOf(offsets, normalPages + zeroPages);
        }

        /** A packet without zero pages (QEMU 7.2's kind). */
        public Ram(int flags, int normalPages, int nextPacketSize, long packetNum, String ramBlock, long[] offsets) {
            this(flags, normalPages, 0, nextPacketSize, packetNum, ramBlock, offsets);
        }

        @Override
        public long[] offsets() {
            return offsets.clone();
        }

        public boolean isSync() {
            return (flags & FLAG_SYNC) != 0;
        }

        public void write(StreamWriter out) throws MigrationException {
            out.be32(MAGIC).be32(VERSION).be32(flags).be32(PAGES_PER_PACKET).be32(normalPages).be32(nextPacketSize)
                    .be64(packetNum).be32(zeroPages).bytes(new byte[28]);
            byte[] name = new byte[BLOCK_NAME_BYTES];
            byte[] given = ramBlock.getBytes(StandardCharsets.UTF_8);
            System.arraycopy(given, 0, name, 0, Math.min(given.length, BLOCK_NAME_BYTES)); // strncpy
            out.bytes(name);
            for (int i = 0; i < PAGES_PER_PACKET; i++) {
                out.be64(i < offsets.length ? offsets[i] : 0);
            }
        }

        /**
         * Reads a header with QEMU's receiver checks: magic, version, pages_alloc not above this end's, page
         * counts within it, and (when there are pages) a known block whose every offset leaves room for a page.
         * The header is always read whole: current QEMU's SYNC packets say pages_alloc 0 yet carry every slot.
         * {@code compression} is the configured method's flag bits; a packet saying otherwise is refused
         * ({@link #ANY_COMPRESSION}: whatever the packet says, for captures read without their configuration).
         */
        public static Ram read(StreamReader in, Map<String, Long> blockLengths, int compression) throws MigrationException {
            long at = in.offset();
            int magic = in.be32();
            if (magic != MAGIC) {
                throw in.errorAt(at, String.format("multifd: received packet magic %x and expected magic %x", magic, MAGIC));
            }
            int version = in.be32();
            if (version != VERSION) {
                throw in.errorAt(at, String.format("multifd: received packet version %d and expected version %d",
                        Integer.toUnsignedLong(version), VERSION));
            }
            int flags = in.be32();
            long pagesAlloc = in.be32u();
            if (pagesAlloc > PAGES_PER_PACKET) {
                throw in.errorAt(at, "multifd: received packet with size " + pagesAlloc + " and expected a size of " + PAGES_PER_PACKET);
            }
            long normal = in.be32u();
            if (normal > pagesAlloc) {
                throw in.errorAt(at, "multifd: received packet with " + normal + " pages and expected maximum pages are " + pagesAlloc);
            }
            int nextPacketSize = in.be32();
            long packetNum = in.be64();
            long zero = in.be32u(); // 9.0+; a reserved zero from older senders
            if (zero > pagesAlloc - normal) {
                throw in.errorAt(at, "multifd: received packet with " + zero + " zero pages and expected maximum zero pages are "
                        + (pagesAlloc - normal));
            }
            in.skip(28);
            byte[] name = in.bytes(BLOCK_NAME_BYTES);
            name[BLOCK_NAME_BYTES - 1] = 0; // QEMU terminates it there whatever was sent
            int len = 0;
            while (name[len] != 0) {
                len++;
            }
            String block = new String(name, 0, len, StandardCharsets.UTF_8);
            long[] offsets = new long[(int) (normal + zero)];
            for (int i = 0; i < PAGES_PER_PACKET; i++) {
                long off = in.be64();
                if (i < offsets.length) {
                    offsets[i] = off;
                }
            }
            if (compression != ANY_COMPRESSION && (flags & COMPRESSION_MASK) != compression && normal > 0) {
                throw in.errorAt(at, String.format("multifd: packet compression flags 0x%x, expected 0x%x",
                        flags & COMPRESSION_MASK, compression));
            }
            if (offsets.length > 0) {
                Long length = blockLengths.get(block);
                if (length == null) {
                    throw in.errorAt(at, "multifd: unknown ram block " + block);
                }
                for (long off : offsets) {
                    if (off < 0 || off > length - RamBlock.TARGET_PAGE_SIZE) {
                        throw in.errorAt(at, String.format("multifd: offset too long 0x%x (max 0x%x)", off, length));
                    }
                    if (off % RamBlock.TARGET_PAGE_SIZE != 0) { // QEMU would write a misaligned page; livemig refuses
                        throw in.errorAt(at, String.format("multifd: offset 0x%x is not on a page boundary", off));
                    }
                }
            }
            return new Ram(flags, (int) normal, (int) zero, nextPacketSize, packetNum, block, offsets);
        }
    }
}
