package dev.livemig.analyze;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParseException;
import dev.livemig.json.JsonParser;
import dev.livemig.ram.RamFlags;
import dev.livemig.savevm.DescribedDevices;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamFraming;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.WireFormat;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * What QEMU's scripts/analyze-migration.py makes of a migration stream file, computed by livemig: the
 * vmdescription trailer ({@link #description}), the state of every section read through it ({@link #state},
 * keyed {@code "IDSTR (SECTION_ID)"} in the order sections first appear), and the extraction of RAM blocks
 * ({@link #extract}). The output is the script's JSON for QEMU 7.2 streams; where the script gives up
 * (XBZRLE, compressed pages, commands, a normal page under {@code -m}) livemig goes on. Every malformed input
 * is a {@link MigrationException} naming the section and the byte offset.
 */
public final class StreamDump {
    private StreamDump() {
    }

    /** The vmdescription trailer, as the stream carries it. */
    public static Json.Obj description(Path file) throws MigrationException {
        String text = DescribedDevices.trailerJson(file);
        long size;
        try {
            size = java.nio.file.Files.size(file);
        } catch (java.io.IOException e) {
            throw new MigrationException("cannot read " + file + ": " + MigrationException.reason(e), e);
        }
        if (text == null) { // where it should have been: the end
            throw new MigrationException("No Debug Migration device found: " + file + " has no vmdescription trailer",
                    "vmdescription", size, null);
        }
        long start = size - text.length(); // the trailer's text ends the stream, one char per byte (US-ASCII)
        try {
            if (JsonParser.parse(text) instanceof Json.Obj o) {
                return o;
            }
            throw new MigrationException("the vmdescription of " + file + " is not a JSON object", "vmdescription", start, null);
        } catch (JsonParseException e) {
            throw new MigrationException("the vmdescription of " + file + " is not JSON: " + e.getMessage(), "vmdescription",
                    start + e.offset(), e);
        }
    }

    /** Every section's state; with {@code dumpMemory}, each RAM page record too (the script's {@code -m}). */
    public static Json.Obj state(Path file, boolean dumpMemory) throws MigrationException {
        return state(file, dumpMemory, List.of());
    }

    /** With the captures of the migration's multifd channels: their pages join the RAM dump in sync order. */
    public static Json.Obj state(Path file, boolean dumpMemory, List<Path> multifd) throws MigrationException {
        return read(file, dumpMemory, null, s -> { }, null, multifd);
    }

    /**
     * Where the bytes of a stream go: per RAM block, pages and bytes of each encoding (zero, normal, xbzrle,
     * compressed); per section, its bytes (all parts together); and the whole stream.
     */
    public static Json.Obj stats(Path file) throws MigrationException {
        return stats(file, List.of());
    }

    public static Json.Obj stats(Path file, List<Path> multifd) throws MigrationException {
        var stats = new StreamStats();
        read(file, false, null, s -> { }, stats, multifd);
        try {
            return stats.toJson(java.nio.file.Files.size(file));
        } catch (IOException e) {
            throw new MigrationException("cannot read " + file + ": " + MigrationException.reason(e), e);
        }
    }

    /**
     * The script's {@code -x}: {@code desc.json}, one file per RAM block (named after it, below {@code into}),
     * and {@code state.json}, printing each name as it is written.
     */
    public static void extract(Path file, Path into, Consumer<String> printed) throws MigrationException {
        extract(file, into, printed, List.of());
    }

    public static void extract(Path file, Path into, Consumer<String> printed, List<Path> multifd) throws MigrationException {
        Json.Obj desc = description(file);
        printed.accept("desc.json");
        write(into.resolve("desc.json"), dev.livemig.json.JsonWriter.pretty(desc, 4));
        Json.Obj state = read(file, false, into, printed, null, multifd);
        printed.accept("state.json");
        write(into.resolve("state.json"), dev.livemig.json.JsonWriter.pretty(state, 4));
    }

    /** RAM blocks only, written below {@code into} (names passed to {@code blocks}); returns the state dump. */
    static Json.Obj extractRam(Path file, Path into, Consumer<String> blocks) throws MigrationException {
        return read(file, false, into, blocks, null, List.of());
    }

    private static void write(Path file, String text) throws MigrationException {
        try {
            java.nio.file.Files.writeString(file, text);
        } catch (IOException e) {
            throw new MigrationException("cannot write " + file + ": " + MigrationException.reason(e), e);
        }
    }

    private record Key(String idstr, long instanceId) {
    }

    private static Json.Obj read(Path file, boolean dumpMemory, Path extractInto, Consumer<String> printed,
                                 StreamStats stats, List<Path> multifd) throws MigrationException {
        // without a trailer RAM still decodes; device sections are skipped to their footers and said so
        Json.Obj desc = DescribedDevices.trailerJson(file) == null ? Json.object().build() : description(file);
        Map<Key, Json.Obj> devices = new HashMap<>();
        for (Json d : desc.has("devices") ? desc.array("devices") : List.<Json>of()) {
            if (d instanceof Json.Obj o && o.get("name").orElse(null) instanceof Json.Str(String name)
                    && o.get("instance_id").orElse(null) instanceof Json.Num(String id)) {
                devices.put(new Key(name, Long.parseLong(id)), o);
            }
        }
        Map<Integer, String> names = new HashMap<>();
        Map<Integer, Object> sections = new LinkedHashMap<>(); // section id -> RamDump or Json.Obj
        List<MultifdChannelDump> channels = new java.util.ArrayList<>();
        try (Closer closer = new Closer(channels); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
             // mapped: the page data a dump skips is never read (a pipe has to be read through)
             var in = java.nio.file.Files.isRegularFile(file) ? StreamReader.mapped(ch) : new StreamReader(ch)) {
            for (Path capture : multifd) {
                channels.add(new MultifdChannelDump(capture));
            }
            StreamFraming.readHeader(in);
            if (in.peek(0) == WireFormat.CONFIGURATION) {
                dev.livemig.savevm.ConfigurationRecord.readAny(in); // subsections too, where the script would stop
            }
            int lastSection = -1;
            while (true) {
                long at = in.offset();
                int type = in.u8();
                switch (type) {
                    case WireFormat.EOF -> {
                        var out = Json.object();
                        for (var e : sections.entrySet()) {
                            Json value = e.getValue() instanceof RamDump ram ? ram.toJson() : (Json) e.getValue();
                            out.put(names.get(e.getKey()) + " (" + e.getKey() + ")", value);
                        }
                        closeAll(sections);
                        return out.build();
                    }
                    case WireFormat.SECTION_START, WireFormat.SECTION_FULL -> {
                        int id = in.be32();
                        String idstr = in.str8();
                        long instance = in.be32u();
                        int version = in.be32();
                        in.section(idstr);
                        names.put(id, idstr);
                        lastSection = id;
                        if (idstr.equals(RamFlags.IDSTR) && instance == 0) {
                            if (version != RamFlags.SECTION_VERSION) {
                                throw in.errorAt(at, "Unknown RAM version " + version);
                            }
                            RamDump ram = new RamDump(dumpMemory, extractInto, printed, stats, channels);
                            sections.put(id, ram);
                            ram.read(in);
                        } else {
                            Json.Obj d = devices.get(new Key(idstr, instance));
                            if (d == null && type == WireFormat.SECTION_FULL) {
                                long skipped = skipToFooter(in, id);
                                sections.put(id, Json.object().put("undecoded", "no description of " + idstr + " (instance "
                                        + instance + ") in the stream: " + skipped + " bytes skipped up to its section footer").build());
                            } else if (d == null) {
                                throw in.errorAt(at, "section " + MigrationException.quote(idstr) + " (instance " + instance
                                        + ") is not in the vmdescription: its state cannot be decoded");
                            } else {
                                sections.put(id, VmsdDump.read(in, d));
                            }
                        }
                        if (stats != null) {
                            stats.section(idstr + " (" + id + ")", in.offset() - at);
                        }
                    }
                    case WireFormat.SECTION_PART, WireFormat.SECTION_END -> {
                        int id = in.be32();
                        lastSection = id;
                        if (!(sections.get(id) instanceof RamDump ram)) {
                            throw in.errorAt(at, "continuation of section " + id + ", which is not an iterative section seen before");
                        }
                        in.section(names.get(id));
                        ram.read(in);
                        if (stats != null) {
                            stats.section(names.get(id) + " (" + id + ")", in.offset() - at);
                        }
                    }
                    case WireFormat.SECTION_FOOTER -> {
                        int id = in.be32();
                        if (id != lastSection) {
                            throw in.errorAt(at, String.format("Mismatched section footer: %x vs %x", id, lastSection));
                        }
                    }
                    case WireFormat.COMMAND -> { // return path, postcopy, packaged: the script stops here, livemig goes on
                        in.be16();
                        int len = in.be16();
                        in.skip(len);
                    }
                    default -> throw in.errorAt(at, "Unknown section type: " + type);
                }
            }
        } catch (IOException e) {
            closeAll(sections);
            throw new MigrationException("cannot read " + file + ": " + MigrationException.reason(e), e);
        } catch (MigrationException | RuntimeException e) {
            closeAll(sections);
            throw e;
        }
    }

    /**
     * Skips an undescribed section's body by finding its footer (0x7e and the section id) followed by a byte
     * that can start the next record; consumes the footer. Returns the bytes skipped.
     */
    private static long skipToFooter(StreamReader in, int id) throws MigrationException {
        long start = in.offset();
        while (true) {
            if (in.offset() - start > StreamReader.MAX_ARRAY) {
                throw in.errorAt(start, "no section footer within " + StreamReader.MAX_ARRAY + " bytes: section " + id + " cannot be skipped");
            }
            if (in.peek(0) < 0) {
                throw in.errorAt(start, "the stream ends inside undescribed section " + id + " (no footer found)");
            }
            if (in.peek(0) == WireFormat.SECTION_FOOTER && in.peek(1) == (id >>> 24 & 0xff) && in.peek(2) == (id >>> 16 & 0xff)
                    && in.peek(3) == (id >>> 8 & 0xff) && in.peek(4) == (id & 0xff)) {
                int next = in.peek(5);
                if (next == WireFormat.EOF || next == WireFormat.SECTION_FULL || next == WireFormat.SECTION_START
                        || next == WireFormat.SECTION_PART || next == WireFormat.SECTION_END || next == WireFormat.COMMAND) {
                    long skipped = in.offset() - start;
                    in.skip(5);
                    return skipped;
                }
            }
            in.u8();
        }
    }

    /** Closes the channel captures however the read ends. */
    private record Closer(List<MultifdChannelDump> channels) implements AutoCloseable {
        @Override
        public void close() {
            channels.forEach(MultifdChannelDump::close);
        }
    }

    private static void closeAll(Map<Integer, Object> sections) {
        for (Object s : sections.values()) {
            if (s instanceof RamDump ram) {
                ram.close();
            }
        }
    }
}
