package dev.livemig.cpr;

import dev.livemig.linux.ReceivedDescriptor;
import dev.livemig.linux.UnixSocket;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a CPR state ({@link CprState}) as the new process of a cpr-transfer does: the whole of it from the cpr
 * channel (the old process shuts its side down once written), then its grammar, each fd field matched with the
 * descriptor that came with that very byte. Everything is bounded (bytes, entries, name length); a stream that does
 * not parse, an fd field without a descriptor, or a descriptor no field claims is refused with what and where, and
 * every descriptor received is closed then.
 */
public final class CprStateReader {
    /** More than a CPR state holds (a few dozen short entries). */
    public static final int MAX_BYTES = 1 << 20;
    public static final int MAX_ENTRIES = 1024;
    /** Longest name with its NUL (QEMU's names are RAM block and object ids). */
    public static final int MAX_NAME = dev.livemig.machine.HandedOver.MAX_NAME_BYTES + 1;
    private static final String SECTION = "cpr state";

    private CprStateReader() {
    }

    /** Reads the state from {@code channel} up to its end. */
    public static CprState receive(UnixSocket channel) throws MigrationException {
        return receive(channel, java.io.OutputStream.nullOutputStream());
    }

    /** As above, writing the bytes that came to {@code capture} as well (what {@code livemig analyze} reads). */
    public static CprState receive(UnixSocket channel, java.io.OutputStream capture) throws MigrationException {
        byte[] chunk = new byte[64 << 10];
        var bytes = new java.io.ByteArrayOutputStream();
        Map<Long, ReceivedDescriptor> at = new HashMap<>();
        try {
            while (true) {
                UnixSocket.Received r = channel.receive(chunk, UnixSocket.MAX_DESCRIPTORS);
                if (r.bytes() == 0) {
                    for (ReceivedDescriptor d : r.descriptors()) {
                        d.close();
                    }
                    break;
                }
                bytes.write(chunk, 0, r.bytes());
                if (!r.descriptors().isEmpty()) {
                    // a read ends with the message that carried them: they came with its last byte
                    long offset = bytes.size() - 1L;
                    if (r.descriptors().size() > 1 || at.containsKey(offset)) {
                        r.descriptors().forEach(ReceivedDescriptor::close);
                        throw new MigrationException("cpr state: " + r.descriptors().size() + " descriptors with one byte"
                                + " (offset=0x" + Long.toHexString(offset) + "); an fd field carries one");
                    }
                    at.put(offset, r.descriptors().getFirst());
                }
                if (bytes.size() > MAX_BYTES) {
                    throw new MigrationException("cpr state longer than " + MAX_BYTES + " bytes");
                }
            }
        } catch (IOException e) {
            at.values().forEach(ReceivedDescriptor::close);
            throw new MigrationException("cpr state: reading the cpr channel failed: " + MigrationException.reason(e), e);
        } catch (MigrationException e) {
            at.values().forEach(ReceivedDescriptor::close);
            throw e;
        }
        byte[] all = bytes.toByteArray();
        try {
            capture.write(all);
        } catch (IOException e) {
            at.values().forEach(ReceivedDescriptor::close);
            throw new MigrationException("cpr state: writing its capture failed: " + MigrationException.reason(e), e);
        }
        return parse(all, at);
    }

    /** One entry of the fd list as the bytes give it: its name, id, and the offset of its fd field's byte. */
    public record Field(String name, int id, long fdAt) {
    }

    /**
     * The grammar alone: magic, version and the fd list, each entry's fd field a byte (a capture of the bytes, or
     * {@code livemig analyze}, has no descriptors). Bounded and refused with offsets as {@link #parse} is.
     */
    public static List<Field> fields(byte[] bytes) throws MigrationException {
        StreamReader in = StreamReader.of(bytes);
        in.section(SECTION);
        long at = in.offset();
        int magic = in.be32();
        if (magic != CprState.MAGIC) {
            throw in.errorAt(at, "Not a migration stream (bad magic " + Integer.toHexString(magic) + ")");
        }
        at = in.offset();
        int version = in.be32();
        if (version != CprState.VERSION) {
            throw in.errorAt(at, "Unsupported migration stream version " + version);
        }
        List<Field> fields = new ArrayList<>();
        while (true) {
            at = in.offset();
            int more = in.u8();
            if (more == 0) {
                break;
            }
            if (more != 1) {
                throw in.errorAt(at, "cpr fd list: element marker " + more + " (1 or 0)");
            }
            if (fields.size() == MAX_ENTRIES) {
                throw in.errorAt(at, "cpr fd list longer than " + MAX_ENTRIES + " entries");
            }
            long lengthAt = in.offset();
            long length = in.be32u();
            if (length < 2 || length > MAX_NAME) {
                throw in.errorAt(lengthAt, "cpr fd name length " + length + " (2.." + MAX_NAME + ", with its NUL)");
            }
            byte[] raw = in.bytes((int) length);
            if (raw[raw.length - 1] != 0) {
                throw in.errorAt(lengthAt, "cpr fd name without its terminating NUL");
            }
            String name = new String(raw, 0, raw.length - 1, StandardCharsets.UTF_8);
            int id = in.be32();
            long fdAt = in.offset();
            int marker = in.u8();
            if (marker != (CprState.FD_MARKER & 0xff)) {
                throw in.errorAt(fdAt, "fd field of " + MigrationException.quote(name) + " is byte 0x"
                        + Integer.toHexString(marker) + ", not the space QEMU sends");
            }
            fields.add(new Field(name, id, fdAt));
        }
        if (!in.atEnd()) {
            throw in.errorAt(in.offset(), "bytes after the cpr fd list");
        }
        return fields;
    }

    /**
     * Parses {@code bytes}, taking the descriptor of each fd field from {@code descriptorsAt} (by the offset of
     * the field's byte). On failure every descriptor given is closed.
     */
    public static CprState parse(byte[] bytes, Map<Long, ReceivedDescriptor> descriptorsAt) throws MigrationException {
        Map<Long, ReceivedDescriptor> left = new HashMap<>(descriptorsAt);
        List<CprState.Fd> fds = new ArrayList<>();
        try {
            for (Field f : fields(bytes)) {
                ReceivedDescriptor d = left.remove(f.fdAt());
                if (d == null) {
                    throw new MigrationException("no descriptor came with the fd field of " + MigrationException.quote(f.name())
                            + " id " + f.id(), SECTION, f.fdAt(), null);
                }
                fds.add(new CprState.Fd(f.name(), f.id(), d, f.fdAt()));
            }
            if (!left.isEmpty()) {
                long first = left.keySet().stream().min(Long::compare).orElseThrow();
                throw new MigrationException(left.size() + " descriptor(s) that no fd field claims", SECTION, first, null);
            }
            return new CprState(fds);
        } catch (MigrationException | RuntimeException e) {
            fds.forEach(f -> f.descriptor().close());
            left.values().forEach(ReceivedDescriptor::close);
            throw e;
        }
    }
}
