package dev.livemig.analyze;

import dev.livemig.json.Json;

import java.util.LinkedHashMap;
import java.util.Map;

/** Counts for {@code livemig analyze --stats}: RAM records per block and encoding, bytes per section. */
final class StreamStats {
    enum Kind {
        ZERO("zero"), NORMAL("normal"), XBZRLE("xbzrle"), COMPRESSED("compressed"), MULTIFD("multifd");

        final String label;

        Kind(String label) {
            this.label = label;
        }
    }

    private final Map<String, long[]> ram = new LinkedHashMap<>(); // block -> pages, bytes per kind
    private final Map<String, Long> sections = new LinkedHashMap<>();

    /** One page record of {@code block} taking {@code bytes} in the stream (its header included; a multifd
     * packet's bytes count with its first page). */
    void page(String block, Kind kind, long bytes) {
        long[] c = ram.computeIfAbsent(block, b -> new long[2 * Kind.values().length]);
        c[2 * kind.ordinal()]++;
        c[2 * kind.ordinal() + 1] += bytes;
    }

    void section(String key, long bytes) {
        sections.merge(key, bytes, Long::sum);
    }

    Json.Obj toJson(long streamBytes) {
        var blocks = Json.object();
        ram.forEach((block, c) -> {
            var b = Json.object();
            for (Kind k : Kind.values()) {
                b.put(k.label + "-pages", c[2 * k.ordinal()]).put(k.label + "-bytes", c[2 * k.ordinal() + 1]);
            }
            blocks.put(block, b.build());
        });
        var s = Json.object();
        sections.forEach((name, bytes) -> s.put(name, bytes));
        return Json.object().put("stream-bytes", streamBytes).put("ram", blocks.build()).put("sections", s.build()).build();
    }
}
