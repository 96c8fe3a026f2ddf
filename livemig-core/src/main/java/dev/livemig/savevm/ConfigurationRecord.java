package dev.livemig.savevm;

import dev.livemig.machine.RamBlock;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import dev.livemig.wire.format.WireFormat;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.UUID;

/**
 * The configuration record that follows the header (§2.2): the machine type name and optional subsections.
 * livemig writes the name and, when a validated capability is on, the capabilities subsection; it reads all
 * three subsections QEMU may send and applies QEMU's checks.
 */
public final class ConfigurationRecord {
    /** Longest machine type name accepted from a peer. */
    public static final int MAX_NAME = 256;
    private static final int MAX_CAPABILITIES = 64;
    /** Capabilities whose settings must match on both sides (7.2: only this one). */
    public static final List<String> VALIDATED_CAPABILITIES = List.of("x-ignore-shared");
    /**
     * Capabilities the configuration may list: 10.0 adds mapped-ram, which changes the RAM section's layout; a
     * livemig destination takes that layout from the stream instead of requiring the capability set locally.
     */
    public static final List<String> LISTED_CAPABILITIES = List.of("x-ignore-shared", "mapped-ram");

    /** What the record said: the machine type and the capabilities it listed. */
    public record Received(String machineType, List<String> capabilities) {
        public Received {
            capabilities = List.copyOf(capabilities);
        }
    }

    private ConfigurationRecord() {
    }

    /** Writes the record without a UUID: the machine type name and, if any are given, the capabilities subsection. */
    public static void write(StreamWriter out, String machineName, List<String> enabledValidatedCapabilities) throws MigrationException {
        write(out, machineName, enabledValidatedCapabilities, null);
    }

    /**
     * {@code uuid}: the source VM's UUID, sent in the configuration/uuid subsection (capability validate-uuid with
     * a UUID set, as QEMU's {@code -uuid}), or null for none.
     */
    public static void write(StreamWriter out, String machineName, List<String> enabledValidatedCapabilities, UUID uuid)
            throws MigrationException {
        byte[] name = machineName.getBytes(StandardCharsets.ISO_8859_1);
        out.u8(WireFormat.CONFIGURATION).be32(name.length).bytes(name);
        if (!enabledValidatedCapabilities.isEmpty()) {
            out.u8(WireFormat.SUBSECTION).str8("configuration/capabilities").be32(1).be32(enabledValidatedCapabilities.size());
            for (String cap : enabledValidatedCapabilities) {
                out.str8(cap);
            }
        }
        if (uuid != null) {
            out.u8(WireFormat.SUBSECTION).str8("configuration/uuid").be32(1).bytes(bytes(uuid));
        }
    }

    /** The UUID's 16 bytes in QEMU's order (big-endian, as printed). */
    public static byte[] bytes(UUID uuid) {
        return java.nio.ByteBuffer.allocate(16).putLong(uuid.getMostSignificantBits()).putLong(uuid.getLeastSignificantBits()).array();
    }

    /**
     * Reads the record and checks it against the local machine type name and validated capabilities.
     * Returns the received machine type name.
     */
    public static String read(StreamReader in, String localName, List<String> localValidatedCapabilities) throws MigrationException {
        return read(in, localName, localValidatedCapabilities, null).machineType();
    }

    /**
     * As {@link #read(StreamReader, String, List)}; {@code localUuid} (null: none set) is what a received
     * configuration/uuid must equal, with QEMU's text otherwise; without a local UUID QEMU only warns, and livemig
     * accepts it too.
     */
    public static Received read(StreamReader in, String localName, List<String> localValidatedCapabilities, UUID localUuid)
            throws MigrationException {
        in.section("configuration");
        long at = in.offset();
        long lenAt = at + 1;
        String name = readName(in);
        if (!name.equals(localName)) {
            throw in.errorAt(lenAt, "machine type differs: received=" + MigrationException.quote(name) + " local=" + localName);
        }
        List<String> received = List.of();
        while (in.peek(0) == WireFormat.SUBSECTION && in.peek(1) > "configuration".length()
                && startsWith(in, "configuration")) {
            long subAt = in.offset();
            in.u8();
            String sub = in.str8();
            int version = in.be32() & 0xff;
            switch (sub) {
                case "configuration/target-page-bits" -> {
                    int bits = in.be32();
                    if (bits != RamBlock.TARGET_PAGE_BITS) {
                        throw in.errorAt(subAt, "target page bits differ: received=" + bits + " local=" + RamBlock.TARGET_PAGE_BITS);
                    }
                }
                case "configuration/capabilities" -> received = readCapabilities(in);
                case "configuration/uuid" -> {
                    byte[] b = in.bytes(16);
                    var bb = java.nio.ByteBuffer.wrap(b);
                    UUID sent = new UUID(bb.getLong(), bb.getLong());
                    if (localUuid != null && !sent.equals(localUuid)) {
                        throw in.errorAt(subAt, "UUID received is " + sent + " and local is " + localUuid);
                    }
                }
                default -> throw in.errorAt(subAt, "unknown configuration subsection: name=" + MigrationException.quote(sub) + " version=" + version);
            }
        }
        for (String cap : VALIDATED_CAPABILITIES) {
            if (received.contains(cap) != localValidatedCapabilities.contains(cap)) {
                throw in.errorAt(at, "capability " + cap + " differs: source=" + (received.contains(cap) ? "on" : "off")
                        + " destination=" + (localValidatedCapabilities.contains(cap) ? "on" : "off"));
            }
        }
        in.section(null);
        return new Received(name, received);
    }

    /**
     * Reads the record without a local machine to compare with (analysis, recording, replay): returns the
     * machine type name, skipping the subsections QEMU may add.
     */
    public static String readAny(StreamReader in) throws MigrationException {
        return readAnyReceived(in).machineType();
    }

    /** As {@link #readAny}, with the capabilities the record listed. */
    public static Received readAnyReceived(StreamReader in) throws MigrationException {
        String name = readName(in);
        List<String> caps = List.of();
        while (in.peek(0) == WireFormat.SUBSECTION) {
            long subAt = in.offset();
            in.u8();
            String sub = in.str8();
            in.be32();
            switch (sub) {
                case "configuration/target-page-bits" -> in.be32();
                case "configuration/capabilities" -> caps = readCapabilities(in);
                case "configuration/uuid" -> in.skip(16);
                default -> throw in.errorAt(subAt, "unknown configuration subsection: name=" + MigrationException.quote(sub));
            }
        }
        return new Received(name, caps);
    }

    /** The record's type byte and machine type name. */
    private static String readName(StreamReader in) throws MigrationException {
        long at = in.offset();
        int type = in.u8();
        if (type != WireFormat.CONFIGURATION) {
            throw in.errorAt(at, "configuration record missing: found=" + WireFormat.recordName(type));
        }
        long lenAt = in.offset();
        long len = in.be32u();
        if (len > MAX_NAME) {
            throw in.errorAt(lenAt, "machine type name too long: length=" + len + " max=" + MAX_NAME);
        }
        return new String(in.bytes((int) len), StandardCharsets.ISO_8859_1);
    }

    private static List<String> readCapabilities(StreamReader in) throws MigrationException {
        long at = in.offset();
        long count = in.be32u();
        if (count > MAX_CAPABILITIES) {
            throw in.errorAt(at, "too many capabilities in configuration: count=" + count + " max=" + MAX_CAPABILITIES);
        }
        var caps = new java.util.ArrayList<String>();
        for (int i = 0; i < count; i++) {
            long capAt = in.offset();
            String cap = in.str8();
            if (!LISTED_CAPABILITIES.contains(cap)) {
                throw in.errorAt(capAt, "unknown capability in configuration: name=" + MigrationException.quote(cap));
            }
            caps.add(cap);
        }
        return caps;
    }

    private static boolean startsWith(StreamReader in, String prefix) throws MigrationException {
        for (int i = 0; i < prefix.length(); i++) {
            if (in.peek(2 + i) != prefix.charAt(i)) {
                return false;
            }
        }
        return true;
    }
}
