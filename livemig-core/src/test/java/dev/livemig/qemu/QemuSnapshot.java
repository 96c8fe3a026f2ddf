package dev.livemig.qemu;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParseException;
import dev.livemig.json.JsonParser;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.format.StreamFraming;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.format.StreamRecord;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An independent, test-only reading of a QEMU 7.2 snapshot file as {@link QemuProcess#saveSnapshot} writes it
 * (precopy, no capabilities): the configuration's machine name, the RAM block list from MEM_SIZE, every RAM
 * block's contents, and the FULL device sections. Device sections are not decoded; their byte size is taken
 * from the vmdescription trailer (sum of field sizes plus subsection headers) and confirmed by finding the
 * section footer exactly there, which also proves the trailer covers each FULL section.
 *
 * <p>It exists so that interop tests can compare QEMU's own output with livemig's; it is deliberately
 * simple (whole file in memory, blocks up to 64 MiB) and rejects anything it does not understand.
 */
public record QemuSnapshot(String machine, List<RamBlock> ramBlocks, Map<String, byte[]> ram,
                           List<DeviceSection> sections, Json.Obj vmDescription, long xbzrleRecords) {

    /** One MEM_SIZE entry: block idstr and used length. */
    public record RamBlock(String name, long length) {
    }

    /** One FULL section: header fields and the byte size of its body (between header and footer). */
    public record DeviceSection(int sectionId, String idstr, int instanceId, int versionId, long size) {
    }

    private static final int RAM_ZERO = 0x02;
    private static final int RAM_MEM_SIZE = 0x04;
    private static final int RAM_PAGE = 0x08;
    private static final int RAM_EOS = 0x10;
    private static final int RAM_XBZRLE = 0x40;
    private static final int RAM_CONTINUE = 0x20;
    private static final int PAGE = 4096;

    public static QemuSnapshot parse(byte[] file) throws MigrationException {
        Json.Obj desc = trailer(file);
        Map<String, Json.Obj> devices = new HashMap<>();
        for (Json d : desc.array("devices")) {
            Json.Obj o = d.asObject();
            devices.put(o.string("name") + "#" + o.number("instance_id"), o);
        }
        StreamReader r = StreamReader.of(file);
        StreamFraming.readHeader(r);
        if (r.u8() != 0x07) {
            throw r.error("configuration record missing");
        }
        String machine = new String(r.bytes(r.be32()), StandardCharsets.ISO_8859_1);
        if (r.peek(0) == 0x05) {
            throw r.error("configuration subsections are not supported by this test reader");
        }
        List<RamBlock> blocks = new ArrayList<>();
        Map<String, byte[]> ram = new LinkedHashMap<>();
        List<DeviceSection> sections = new ArrayList<>();
        String[] lastBlock = {null};
        long[] xbzrle = {0};
        int[] ramId = {-1}; // the id RAM's START carried; PART/END must repeat it
        while (true) {
            StreamRecord rec = StreamFraming.readRecord(r);
            switch (rec) {
                case StreamRecord.Eof e -> {
                    return new QemuSnapshot(machine, List.copyOf(blocks), ram, List.copyOf(sections), desc, xbzrle[0]);
                }
                case StreamRecord.SectionStart s when !s.full() && s.idstr().equals("ram") -> {
                    ramId[0] = s.sectionId();
                    readRam(r, blocks, ram, lastBlock, xbzrle);
                    StreamFraming.readFooter(r, s.sectionId());
                }
                case StreamRecord.SectionContinue c when c.sectionId() == ramId[0] -> {
                    readRam(r, blocks, ram, lastBlock, xbzrle);
                    StreamFraming.readFooter(r, c.sectionId());
                }
                case StreamRecord.SectionStart s when s.full() -> {
                    Json.Obj d = devices.get(s.idstr() + "#" + s.instanceId());
                    if (d == null) {
                        throw r.error("FULL section not described by the trailer: " + s.idstr() + " instance " + s.instanceId());
                    }
                    long size = d.has("vmsd_name") ? vmsdSize(d) : d.number("size");
                    r.skip(size);
                    StreamFraming.readFooter(r, s.sectionId());
                    sections.add(new DeviceSection(s.sectionId(), s.idstr(), s.instanceId(), s.versionId(), size));
                }
                case StreamRecord.Command c when c.command() == dev.livemig.wire.format.MigrationCommands.SWITCHOVER_START
                        && c.data().length == 0 -> {
                    // 10.0 writes it into snapshot files too, before the final sections
                }
                default -> throw r.error("record not expected in a plain precopy snapshot: " + rec);
            }
        }
    }

    /** The bytes of block {@code name} at {@code offset}, as the stream left them (never-sent pages are zero). */
    public byte[] ramBytes(String name, long offset, int length) {
        byte[] b = ram.get(name);
        if (b == null) {
            throw new IllegalArgumentException("no RAM block " + name);
        }
        byte[] out = new byte[length];
        System.arraycopy(b, Math.toIntExact(offset), out, 0, length);
        return out;
    }

    /**
     * RAM records into {@code ram}. An XBZRLE record is applied to the page as this reader holds it, and then
     * checked against livemig's encoder: encoding that old page into the new one must give QEMU's exact delta
     * bytes ({@code xbzrle[0]} counts the records checked).
     */
    private static void readRam(StreamReader r, List<RamBlock> blocks, Map<String, byte[]> ram, String[] last, long[] xbzrle)
            throws MigrationException {
        while (true) {
            long word = r.be64();
            int flags = (int) (word & (PAGE - 1));
            long offset = word & ~(long) (PAGE - 1);
            if (flags == RAM_EOS) {
                return;
            }
            if (flags == RAM_MEM_SIZE) {
                long left = offset;
                while (left > 0) {
                    String name = r.str8();
                    long len = r.be64();
                    if (len > StreamReader.MAX_ARRAY) {
                        throw r.error("RAM block too large for this test reader: " + name + " " + len);
                    }
                    blocks.add(new RamBlock(name, len));
                    ram.put(name, new byte[(int) len]);
                    left -= len;
                }
                continue;
            }
            int kind = flags & ~RAM_CONTINUE;
            if ((flags & RAM_CONTINUE) == 0) {
                last[0] = r.str8();
            }
            byte[] block = ram.get(last[0]);
            if (block == null || offset + PAGE > block.length) {
                throw r.error("page outside the block list: block=" + last[0] + " offset=0x" + Long.toHexString(offset));
            }
            switch (kind) {
                case RAM_ZERO -> Arrays.fill(block, (int) offset, (int) offset + PAGE, (byte) r.u8());
                case RAM_PAGE -> System.arraycopy(r.bytes(PAGE), 0, block, (int) offset, PAGE);
                case RAM_XBZRLE -> {
                    if (r.u8() != 1) {
                        throw r.error("XBZRLE record with an unknown encoding");
                    }
                    byte[] delta = r.bytes(r.be16());
                    byte[] old = Arrays.copyOfRange(block, (int) offset, (int) offset + PAGE);
                    java.lang.foreign.MemorySegment page = java.lang.foreign.MemorySegment.ofArray(block).asSlice(offset, PAGE);
                    try {
                        dev.livemig.ram.Xbzrle.decode(delta, delta.length, page);
                    } catch (dev.livemig.ram.Xbzrle.Malformed e) {
                        throw r.error("QEMU's XBZRLE delta refused by livemig's decoder: " + e.getMessage());
                    }
                    byte[] again = new byte[PAGE];
                    int n = dev.livemig.ram.Xbzrle.encode(old, Arrays.copyOfRange(block, (int) offset, (int) offset + PAGE), again, PAGE);
                    if (n != delta.length || !Arrays.equals(delta, Arrays.copyOf(again, n))) {
                        throw r.error("livemig encodes this page differently from QEMU: QEMU " + delta.length
                                + " bytes, livemig " + n + " at offset 0x" + Long.toHexString(offset));
                    }
                    xbzrle[0]++;
                }
                default -> throw r.error("RAM record kind not supported by this test reader: flags=0x" + Integer.toHexString(flags));
            }
        }
    }

    /** Bytes a vmsd-described object occupies: its fields, then each subsection's 0x05, str8 name, be32 version. */
    private static long vmsdSize(Json.Obj vmsd) {
        long size = 0;
        for (Json f : vmsd.array("fields")) {
            Json.Obj field = f.asObject();
            long one = field.number("size");
            size += field.has("array_len") ? one * field.number("array_len") : one;
        }
        for (Json s : vmsd.array("subsections")) {
            Json.Obj sub = s.asObject();
            size += 1 + 1 + sub.string("vmsd_name").length() + 4 + vmsdSize(sub);
        }
        return size;
    }

    /**
     * The trailer found the way scripts/analyze-migration.py finds it: the last NUL byte of the file, the first
     * '{' after it, 0x06 five bytes before that and the be32 length in between.
     */
    private static Json.Obj trailer(byte[] file) throws MigrationException {
        int nul = -1;
        for (int i = file.length - 1; i >= 0; i--) {
            if (file[i] == 0) {
                nul = i;
                break;
            }
        }
        int brace = nul + 1;
        while (brace < file.length && file[brace] != '{') {
            brace++;
        }
        if (nul < 0 || brace >= file.length || brace < 5 || file[brace - 5] != 0x06) {
            throw new MigrationException("no vmdescription trailer found");
        }
        int len = ByteBuffer.wrap(file, brace - 4, 4).getInt();
        if (len < 0 || brace + len != file.length) {
            throw new MigrationException("vmdescription length " + len + " does not reach the end of the file");
        }
        try {
            return JsonParser.parse(new String(file, brace, len, StandardCharsets.ISO_8859_1)).asObject();
        } catch (JsonParseException e) {
            throw new MigrationException("vmdescription is not JSON", e);
        }
    }
}
