package dev.livemig.analyze;

import dev.livemig.json.Json;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.format.WireFormat;

import java.util.function.IntPredicate;
import java.util.zip.CRC32C;

/**
 * A section the vmdescription says nothing about: a live handler's (livemig's {@code SaveVMHandlers}-style
 * devices such as the demo's slowdev, QEMU's block or dirty-bitmap sections) or a device QEMU left out. Its
 * body is the handler's own bytes with no length, so its extent is found the one way the stream allows: the
 * section footer (0x7e and the section id) that livemig and QEMU 7.2 write after every part, followed by a
 * byte that starts a plausible next record. Shown as its size, the number of parts and a CRC-32C of the
 * body bytes, so two streams' copies can be compared.
 */
final class UndescribedSection {
    /** No section livemig or QEMU writes comes near this between two footers (QEMU's are kilobytes). */
    static final long MAX_PART = StreamReader.MAX_ARRAY;

    private final String idstr;
    private final long instance;
    private final boolean live;
    private final CRC32C crc = new CRC32C();
    private long bytes;
    private int parts;

    UndescribedSection(String idstr, long instance, boolean live) {
        this.idstr = idstr;
        this.instance = instance;
        this.live = live;
    }

    /**
     * Reads one part's body and its footer. {@code knownSection}: whether a section id has started already,
     * which a footer followed by PART or END must name.
     */
    void skipPart(StreamReader in, int id, IntPredicate knownSection) throws MigrationException {
        long start = in.offset();
        byte[] run = new byte[4096];
        int pending = 0;
        while (!footerAhead(in, id, knownSection)) {
            if (in.offset() - start > MAX_PART) {
                throw in.errorAt(start, "no section footer within " + MAX_PART + " bytes: section "
                        + MigrationException.quote(idstr) + " (" + id + ") cannot be skipped");
            }
            if (in.peek(0) < 0) {
                throw in.errorAt(start, "the stream ends inside undescribed section " + MigrationException.quote(idstr)
                        + " (" + id + "): no footer found");
            }
            run[pending++] = (byte) in.u8();
            if (pending == run.length) {
                crc.update(run, 0, pending);
                pending = 0;
            }
        }
        crc.update(run, 0, pending);
        bytes += in.offset() - start;
        parts++;
        in.skip(5);
    }

    /** The footer of section {@code id} is next, and what follows it starts a record that fits the stream. */
    private static boolean footerAhead(StreamReader in, int id, IntPredicate knownSection) throws MigrationException {
        if (in.peek(0) != WireFormat.SECTION_FOOTER || be32Ahead(in, 1) != id) {
            return false;
        }
        int next = in.peek(5);
        return switch (next) {
            case WireFormat.EOF -> in.peek(6) < 0 || in.peek(6) == WireFormat.VMDESCRIPTION;
            case WireFormat.SECTION_PART, WireFormat.SECTION_END -> in.peek(9) >= 0 && knownSection.test(be32Ahead(in, 6));
            case WireFormat.SECTION_START, WireFormat.SECTION_FULL -> in.peek(9) >= 0
                    && !knownSection.test(be32Ahead(in, 6)) && idstrAhead(in, 10);
            case WireFormat.COMMAND -> true;
            default -> false;
        };
    }

    /** A non-empty str8 of printable ASCII at {@code ahead}, as every idstr QEMU and livemig use. */
    private static boolean idstrAhead(StreamReader in, int ahead) throws MigrationException {
        int len = in.peek(ahead);
        if (len <= 0) {
            return false;
        }
        for (int i = 1; i <= len; i++) {
            int c = in.peek(ahead + i);
            if (c < 0x20 || c > 0x7e) {
                return false;
            }
        }
        return true;
    }

    private static int be32Ahead(StreamReader in, int ahead) throws MigrationException {
        int v = 0;
        for (int i = 0; i < 4; i++) {
            int b = in.peek(ahead + i);
            if (b < 0) {
                return -1;
            }
            v = v << 8 | b;
        }
        return v;
    }

    Json.Obj toJson() {
        String why = live ? "a live section: its handler's own bytes, not described by the vmdescription"
                : "no description of " + idstr + " (instance " + instance + ") in the stream: " + bytes
                        + " bytes skipped up to its section footer";
        return Json.object().put("undecoded", why).put("bytes", bytes).put("parts", parts)
                .put("crc32c", String.format("0x%08x", crc.getValue())).build();
    }
}
