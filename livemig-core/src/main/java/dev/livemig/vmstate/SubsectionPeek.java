package dev.livemig.vmstate;

import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.format.WireFormat;

import java.nio.charset.StandardCharsets;

/**
 * QEMU's subsection recognition (§4.6 steps 1-5), exactly: the next bytes are taken as a subsection of the
 * parent only if they are {@code 0x05}, a name length long enough for "parent/x", and a name starting with the
 * parent's name; anything else is left unread for the caller. A name that passes but is not a declared
 * subsection fails the load.
 */
final class SubsectionPeek {
    private static final int NAME_AT = 2; // after the 0x05 and the length byte

    private SubsectionPeek() {
    }

    /**
     * The next subsection of {@code parent} with its header consumed up to (not including) the be32 version,
     * or null when the next bytes are not one of its subsections.
     */
    static <T> Subsection<T> next(StreamReader r, VmStateDescription<T> parent) throws MigrationException {
        if (r.peek(0) != WireFormat.SUBSECTION) {
            return null;
        }
        byte[] prefix = parent.name().getBytes(StandardCharsets.ISO_8859_1);
        int len = r.peek(1);
        if (len < prefix.length + 1) {
            return null; // also the end of the stream (-1)
        }
        byte[] name = new byte[len]; // len is a byte: at most 255
        for (int k = 0; k < len; k++) {
            int b = r.peek(NAME_AT + k);
            if (b < 0) {
                return null;
            }
            name[k] = (byte) b;
        }
        for (int k = 0; k < prefix.length; k++) {
            if (name[k] != prefix[k]) {
                return null;
            }
        }
        String idstr = cString(name);
        Subsection<T> sub = parent.subsection(idstr);
        if (sub == null) {
            throw r.error("unknown subsection: vmsd=" + parent.name() + " subsection=" + MigrationException.quote(idstr));
        }
        r.skip(NAME_AT + len);
        return sub;
    }

    /** The name as QEMU's strcmp sees it: up to the first NUL. */
    private static String cString(byte[] name) {
        int end = 0;
        while (end < name.length && name[end] != 0) {
            end++;
        }
        return new String(name, 0, end, StandardCharsets.ISO_8859_1);
    }
}
