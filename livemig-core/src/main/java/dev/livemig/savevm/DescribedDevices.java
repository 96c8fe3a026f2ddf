package dev.livemig.savevm;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParseException;
import dev.livemig.json.JsonParser;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.format.WireFormat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The device objects of a stream's vmdescription trailer, by (idstr, instance id): how livemig walks
 * sections it does not model. For a file, the trailer is found at its end the way QEMU's
 * analyze-migration.py finds it (last NUL in the final 10 MiB, the first '{' after it, the 0x06 type byte
 * five bytes before), then checked to end exactly at the end of the file.
 */
public record DescribedDevices(Map<Key, Json.Obj> byKey) {
    /** A section's identity: its idstr and instance id, as the trailer's {@code name} and {@code instance_id}. */
    public record Key(String idstr, int instanceId) {
    }

    private static final int TAIL_WINDOW = 10 << 20;

    /** No device described: every FULL section must have a registration to be loaded. */
    public static final DescribedDevices NONE = new DescribedDevices(Map.of());

    public DescribedDevices {
        byKey = Map.copyOf(byKey);
    }

    /** The devices described by a trailer's JSON text. */
    public static DescribedDevices fromJson(String json) throws MigrationException {
        try {
            var devices = new LinkedHashMap<Key, Json.Obj>();
            for (Json d : JsonParser.parse(json).asObject().array("devices")) {
                Json.Obj obj = d.asObject();
                devices.put(new Key(obj.string("name"), (int) obj.number("instance_id")), obj);
            }
            return new DescribedDevices(devices);
        } catch (JsonParseException | IllegalArgumentException e) {
            throw new MigrationException("malformed vmdescription: " + e.getMessage(), "vmdescription", -1, e);
        }
    }

    /** The trailer of a stream stored in a file, or {@link #NONE} when the file has none. */
    public static DescribedDevices fromFileTrailer(Path file) throws MigrationException {
        String json = trailerJson(file);
        return json == null ? NONE : fromJson(json);
    }

    /** The trailer's JSON text of a stream file, or null when none is found. */
    public static String trailerJson(Path file) throws MigrationException {
        byte[] json = trailerBytes(file);
        return json == null ? null : new String(json, StandardCharsets.US_ASCII);
    }

    /** The trailer's JSON bytes of a stream file, as they are (the last bytes of the file), or null when none. */
    public static byte[] trailerBytes(Path file) throws MigrationException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            int window = (int) Math.min(size, TAIL_WINDOW);
            ByteBuffer tail = ByteBuffer.allocate(window);
            while (tail.hasRemaining() && ch.read(tail, size - window + tail.position()) > 0) {
                // read the whole window
            }
            byte[] b = tail.array();
            int nul = -1;
            for (int i = window - 1; i >= 0; i--) {
                if (b[i] == 0) {
                    nul = i;
                    break;
                }
            }
            if (nul < 0) {
                return null;
            }
            int brace = -1;
            for (int i = nul + 1; i < window; i++) {
                if (b[i] == '{') {
                    brace = i;
                    break;
                }
            }
            if (brace < 5 || (b[brace - 5] & 0xff) != WireFormat.VMDESCRIPTION) {
                return null;
            }
            long len = ByteBuffer.wrap(b, brace - 4, 4).getInt() & 0xffff_ffffL;
            if (brace + len != window) {
                return null;
            }
            return java.util.Arrays.copyOfRange(b, brace, window);
        } catch (IOException e) {
            throw new MigrationException("cannot read " + file + ": " + MigrationException.reason(e), e);
        }
    }
}
