package dev.livemig.analyze;

import dev.livemig.json.Json;
import dev.livemig.machine.RamBlock;
import dev.livemig.ram.RamFlags;
import dev.livemig.savevm.DescribedDevices;
import dev.livemig.savevm.RamCeiling;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.format.StreamFraming;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.format.WireFormat;

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
 * (XBZRLE, compressed pages, commands, a normal page under {@code -m}, sections of live handlers that the
 * vmdescription does not describe: {@link UndescribedSection}) livemig goes on. Every malformed input is a
 * {@link MigrationException} naming the section and the byte offset; the trailer after EOF is checked too (its
 * length field, strict JSON, the devices it lists), and a block list past the {@link RamCeiling} is refused.
 */
public final class StreamDump {
    private StreamDump() {
    }

    /**
     * The vmdescription trailer, as the stream carries it. A stream without one (QEMU's suppress-vmdesc; QEMU's
     * script then finds "No Debug Migration device found") gets livemig's listing of its device sections
     * instead, in stream order, each marked undecoded: what the stream says about them without a description.
     */
    public static Json.Obj description(Path file) throws MigrationException {
        byte[] json = DescribedDevices.trailerBytes(file);
        long size;
        try {
            size = java.nio.file.Files.size(file);
        } catch (java.io.IOException e) {
            throw new MigrationException("cannot read " + file + ": " + MigrationException.reason(e), e);
        }
        if (json == null) { // where it should have been: the end
            return withoutTrailer(file);
        }
        return VmDescription.parse(json, size - json.length); // the trailer's bytes end the stream
    }

    private static Json.Obj withoutTrailer(Path file) throws MigrationException {
        List<Json> devices = new java.util.ArrayList<>();
        read(file, false, null, s -> { }, null, List.of(), RamCeiling.host(), (idstr, instance) -> devices.add(Json.object()
                .put("name", idstr).put("instance_id", instance)
                .put("undecoded", "the stream has no vmdescription trailer: the section's fields are not known").build()));
        return Json.object().put("page_size", RamBlock.TARGET_PAGE_SIZE).put("devices", new Json.Arr(devices)).build();
    }

    /** Every section's state; with {@code dumpMemory}, each RAM page record too (the script's {@code -m}). */
    public static Json.Obj state(Path file, boolean dumpMemory) throws MigrationException {
        return state(file, dumpMemory, List.of());
    }

    /** With the captures of the migration's multifd channels: their pages join the RAM dump in sync order. */
    public static Json.Obj state(Path file, boolean dumpMemory, List<Path> multifd) throws MigrationException {
        return state(file, dumpMemory, multifd, RamCeiling.host());
    }

    /** {@code ceiling}: a stream declaring more RAM is refused at its block list. */
    public static Json.Obj state(Path file, boolean dumpMemory, List<Path> multifd, RamCeiling ceiling) throws MigrationException {
        return read(file, dumpMemory, null, s -> { }, null, multifd, ceiling, null);
    }

    /**
     * Where the bytes of a stream go: per RAM block, pages and bytes of each encoding (zero, normal, xbzrle,
     * compressed); per section, its bytes (all parts together); and the whole stream.
     */
    public static Json.Obj stats(Path file) throws MigrationException {
        return stats(file, List.of());
    }

    public static Json.Obj stats(Path file, List<Path> multifd) throws MigrationException {
        return stats(file, multifd, RamCeiling.host());
    }

    public static Json.Obj stats(Path file, List<Path> multifd, RamCeiling ceiling) throws MigrationException {
        var stats = new StreamStats();
        read(file, false, null, s -> { }, stats, multifd, ceiling, null);
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
        extract(file, into, printed, multifd, RamCeiling.host());
    }

    /** {@code ceiling}: no block file is created for a stream declaring more RAM. */
    public static void extract(Path file, Path into, Consumer<String> printed, List<Path> multifd, RamCeiling ceiling)
            throws MigrationException {
        Json.Obj desc = description(file);
        printed.accept("desc.json");
        write(into.resolve("desc.json"), dev.livemig.json.JsonWriter.pretty(desc, 4));
        Json.Obj state = read(file, false, into, printed, null, multifd, ceiling, null);
        printed.accept("state.json");
        write(into.resolve("state.json"), dev.livemig.json.JsonWriter.pretty(state, 4));
    }

    /** RAM blocks only, written below {@code into} (names passed to {@code blocks}); returns the state dump. */
    static Json.Obj extractRam(Path file, Path into, Consumer<String> blocks) throws MigrationException {
        return read(file, false, into, blocks, null, List.of(), RamCeiling.host(), null);
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

    /** Receives each device (FULL) section's idstr and instance id as the stream starts it. */
    private interface DeviceSeen {
        void accept(String idstr, long instance);
    }

    /** {@code seen}: told of every device section, or null. */
    private static Json.Obj read(Path file, boolean dumpMemory, Path extractInto, Consumer<String> printed,
                                 StreamStats stats, List<Path> multifd, RamCeiling ceiling, DeviceSeen seen)
            throws MigrationException {
        // without a trailer RAM still decodes; device sections are skipped to their footers and said so
        Json.Obj desc = DescribedDevices.trailerBytes(file) == null ? Json.object().build() : description(file);
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
            List<String> capabilities = List.of();
            if (in.peek(0) == WireFormat.CONFIGURATION) { // subsections too, where the script would stop
                capabilities = dev.livemig.savevm.ConfigurationRecord.readAnyReceived(in).capabilities();
            }
            boolean mappedRam = capabilities.contains(dev.livemig.migration.MigrationCapability.MAPPED_RAM.qmpName());
            boolean ignoreShared = capabilities.contains(dev.livemig.migration.MigrationCapability.X_IGNORE_SHARED.qmpName());
            int lastSection = -1;
            while (true) {
                long at = in.offset();
                int type = in.u8();
                switch (type) {
                    case WireFormat.EOF -> {
                        checkTrailer(in);
                        var out = Json.object();
                        for (var e : sections.entrySet()) {
                            Json value = switch (e.getValue()) {
                                case RamDump ram -> ram.toJson();
                                case UndescribedSection u -> u.toJson();
                                default -> (Json) e.getValue();
                            };
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
                        if (seen != null && type == WireFormat.SECTION_FULL) {
                            seen.accept(idstr, instance);
                        }
                        if (idstr.equals(RamFlags.IDSTR) && instance == 0) {
                            if (version != RamFlags.SECTION_VERSION) {
                                throw in.errorAt(at, "Unknown RAM version " + version);
                            }
                            RamDump ram = new RamDump(dumpMemory, extractInto, printed, stats, channels, ceiling);
                            ram.mappedRam(mappedRam);
                            ram.ignoreShared(ignoreShared);
                            sections.put(id, ram);
                            ram.read(in);
                        } else {
                            Json.Obj d = devices.get(new Key(idstr, instance));
                            if (d == null) { // a live handler's section, or a device QEMU did not describe
                                if (sections.containsKey(id)) {
                                    throw in.errorAt(at, "section id " + id + " starts a second time");
                                }
                                var undescribed = new UndescribedSection(idstr, instance, type == WireFormat.SECTION_START);
                                sections.put(id, undescribed);
                                undescribed.skipPart(in, id, sections::containsKey);
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
                        in.section(names.get(id));
                        switch (sections.get(id)) {
                            case RamDump ram -> ram.read(in);
                            case UndescribedSection undescribed -> undescribed.skipPart(in, id, sections::containsKey);
                            case null, default -> throw in.errorAt(at, "continuation of section " + id
                                    + ", which is not an iterative section seen before");
                        }
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
                        int command = in.be16();
                        int len = in.be16();
                        if (command == dev.livemig.wire.format.MigrationCommands.PACKAGED && len == 4) {
                            // the package's length; its bytes are records of this stream (POSTCOPY_LISTEN, the
                            // devices' FULL sections, PINGs, POSTCOPY_RUN): read on as if they were not packed
                            in.be32u();
                        } else {
                            in.skip(len);
                        }
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
     * What follows EOF: nothing, or the vmdescription trailer whose length field covers exactly the rest of the
     * stream and whose JSON has the shape QEMU writes. The trailer the dump was read by was found from the end of
     * the file, as the script finds it; this reads it from the front, where a wrong length shows.
     */
    private static void checkTrailer(StreamReader in) throws MigrationException {
        in.section("vmdescription");
        if (in.atEnd()) {
            return; // QEMU sends none without a vmdescription-capable machine; the script then stops at EOF too
        }
        long at = in.offset();
        int type = in.u8();
        if (type != WireFormat.VMDESCRIPTION) {
            throw in.errorAt(at, String.format("unexpected byte after EOF: type=0x%02x expected=0x%02x (vmdescription)",
                    type, WireFormat.VMDESCRIPTION));
        }
        long lenAt = in.offset();
        long length = in.be32u();
        if (length > WireFormat.MAX_VMDESCRIPTION) {
            throw in.errorAt(lenAt, "vmdescription length out of range: length=" + length + " max=" + WireFormat.MAX_VMDESCRIPTION);
        }
        long start = in.offset();
        byte[] json = in.bytesUpTo((int) length);
        if (json.length < length) {
            throw in.errorAt(lenAt, "vmdescription length field says " + length + " bytes, the stream has " + json.length
                    + " after it");
        }
        if (!in.atEnd()) {
            long extra = in.skipUpTo(WireFormat.MAX_VMDESCRIPTION + 1L);
            throw in.errorAt(lenAt, "vmdescription length field says " + length + " bytes, the stream has "
                    + (extra > WireFormat.MAX_VMDESCRIPTION ? "more than " + (length + WireFormat.MAX_VMDESCRIPTION)
                    : String.valueOf(length + extra)) + " after it");
        }
        VmDescription.parse(json, start);
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
