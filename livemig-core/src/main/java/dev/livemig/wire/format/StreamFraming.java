package dev.livemig.wire.format;

import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;

import static dev.livemig.wire.format.WireFormat.*;

/**
 * Writing and reading the framing elements of QEMU's stream: header, section headers and footers, commands,
 * EOF and the vmdescription trailer (§2, §3, §5.1, §11.2). Payloads belong to the layers above.
 */
public final class StreamFraming {
    private StreamFraming() {
    }

    /** The stream header: magic and version 3. */
    public static void writeHeader(StreamWriter w) throws MigrationException {
        w.be32(FILE_MAGIC).be32(FILE_VERSION);
    }

    /** Reads and checks magic and version. */
    public static void readHeader(StreamReader r) throws MigrationException {
        long at = r.offset();
        int magic = r.be32();
        if (magic != FILE_MAGIC) {
            throw r.errorAt(at, String.format("not a migration stream: magic=0x%08x expected=0x%08x", magic, FILE_MAGIC));
        }
        at = r.offset();
        int version = r.be32();
        if (version == FILE_VERSION_COMPAT) {
            throw r.errorAt(at, "obsolete stream version: version=2 supported=3");
        }
        if (version != FILE_VERSION) {
            throw r.errorAt(at, "unsupported stream version: version=" + Integer.toUnsignedString(version) + " supported=3");
        }
    }

    /**
     * A FULL ({@code full}) or START section header: type, section id, idstr, instance id, version id.
     *
     * @throws IllegalArgumentException if {@code idstr} is empty
     */
    public static void writeSectionStart(StreamWriter w, boolean full, int sectionId, String idstr, int instanceId, int versionId)
            throws MigrationException {
        if (idstr.isEmpty()) {
            throw new IllegalArgumentException("empty idstr");
        }
        w.u8(full ? SECTION_FULL : SECTION_START).be32(sectionId).str8(idstr).be32(instanceId).be32(versionId);
    }

    /** An END ({@code end}) or PART section header: type and section id only. */
    public static void writeSectionContinue(StreamWriter w, boolean end, int sectionId) throws MigrationException {
        w.u8(end ? SECTION_END : SECTION_PART).be32(sectionId);
    }

    /** The footer that closes section {@code sectionId}. */
    public static void writeFooter(StreamWriter w, int sectionId) throws MigrationException {
        w.u8(SECTION_FOOTER).be32(sectionId);
    }

    /** Checks the footer that must close section {@code sectionId}. */
    public static void readFooter(StreamReader r, int sectionId) throws MigrationException {
        long at = r.offset();
        int marker = r.u8();
        if (marker != SECTION_FOOTER) {
            throw r.errorAt(at, String.format("section footer missing: found=0x%02x expected=0x7e section_id=%d "
                    + "(the section's data was longer or shorter than its reader expected)", marker, sectionId));
        }
        int id = r.be32();
        if (id != sectionId) {
            throw r.errorAt(at, "section footer names another section: footer_id=" + id + " section_id=" + sectionId);
        }
    }

    /** The EOF record that ends the device state. */
    public static void writeEof(StreamWriter w) throws MigrationException {
        w.u8(EOF);
    }

    /**
     * A command record: type, be16 command, be16 length, the data.
     *
     * @throws IllegalArgumentException if {@code data} is longer than 65535 bytes
     */
    public static void writeCommand(StreamWriter w, int command, byte[] data) throws MigrationException {
        if (data.length > 0xffff) {
            throw new IllegalArgumentException("command payload too long: " + data.length);
        }
        w.u8(COMMAND).be16(command).be16(data.length).bytes(data);
    }

    /** The vmdescription trailer: 0x06, be32 length, the JSON text. */
    public static void writeVmDescription(StreamWriter w, byte[] json) throws MigrationException {
        w.u8(VMDESCRIPTION).be32(json.length).bytes(json);
    }

    /**
     * Reads the next top-level record. Unknown type bytes, and types that are legal only elsewhere
     * (subsection, configuration, footer, vmdescription), are rejected with their offset.
     */
    public static StreamRecord readRecord(StreamReader r) throws MigrationException {
        long at = r.offset();
        int type = r.u8();
        return switch (type) {
            case EOF -> new StreamRecord.Eof();
            case SECTION_START, SECTION_FULL -> {
                int id = r.be32();
                long idAt = r.offset();
                String idstr = r.str8();
                if (idstr.isEmpty()) {
                    throw r.errorAt(idAt, "empty idstr in " + recordName(type) + ": section_id=" + id);
                }
                int instance = r.be32();
                int version = r.be32();
                yield new StreamRecord.SectionStart(type == SECTION_FULL, id, idstr, instance, version);
            }
            case SECTION_PART, SECTION_END -> new StreamRecord.SectionContinue(type == SECTION_END, r.be32());
            case COMMAND -> {
                int cmd = r.be16();
                int len = r.be16();
                yield new StreamRecord.Command(cmd, r.bytes(len));
            }
            default -> throw r.errorAt(at, "unexpected record type: type=" + recordName(type));
        };
    }

    /**
     * Reads the trailer if one follows (QEMU tolerates its absence), returning its JSON bytes or null at the end
     * of the stream. Anything else after EOF is an error.
     */
    public static byte[] readVmDescription(StreamReader r) throws MigrationException {
        if (r.atEnd()) {
            return null;
        }
        long at = r.offset();
        int type = r.u8();
        if (type != VMDESCRIPTION) {
            throw r.errorAt(at, "unexpected byte after EOF: type=" + recordName(type) + " expected=VMDESCRIPTION");
        }
        long lenAt = r.offset();
        long len = r.be32u();
        if (len > MAX_VMDESCRIPTION) {
            throw r.errorAt(lenAt, "vmdescription too long: length=" + len + " max=" + MAX_VMDESCRIPTION);
        }
        return r.bytes((int) len);
    }
}
