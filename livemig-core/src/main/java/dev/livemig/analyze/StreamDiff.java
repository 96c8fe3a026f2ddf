package dev.livemig.analyze;

import dev.livemig.json.Json;
import dev.livemig.wire.MigrationException;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * {@code livemig analyze diff A B}: which RAM pages (by block and offset) and which device fields (by path
 * in the state dump) differ between two streams. RAM is compared as each stream leaves it (every record
 * applied in order); a block present in one stream only is reported as such.
 */
public final class StreamDiff {
    private static final int LISTED = 256;
    private static final int PAGE = dev.livemig.machine.RamBlock.TARGET_PAGE_SIZE;

    private StreamDiff() {
    }

    public static Json.Obj diff(Path a, Path b) throws MigrationException {
        Path work;
        try {
            work = Files.createTempDirectory("livemig-diff-");
        } catch (IOException e) {
            throw new MigrationException("cannot create a scratch directory: " + MigrationException.reason(e), e);
        }
        try {
            Path ra = Files.createDirectories(work.resolve("a"));
            Path rb = Files.createDirectories(work.resolve("b"));
            List<String> blocksA = new ArrayList<>();
            List<String> blocksB = new ArrayList<>();
            Json.Obj stateA = StreamDump.extractRam(a, ra, blocksA::add);
            Json.Obj stateB = StreamDump.extractRam(b, rb, blocksB::add);
            var ram = Json.object();
            boolean same = true;
            for (String block : blocksA) {
                if (!blocksB.contains(block)) {
                    ram.put(block, Json.object().put("only-in", "a").build());
                    same = false;
                    continue;
                }
                Json.Obj d = comparePages(ra.resolve("./" + block), rb.resolve("./" + block));
                same &= d.number("differing-pages") == 0;
                ram.put(block, d);
            }
            for (String block : blocksB) {
                if (!blocksA.contains(block)) {
                    ram.put(block, Json.object().put("only-in", "b").build());
                    same = false;
                }
            }
            List<Json> fields = new ArrayList<>();
            compare("", withoutRam(stateA), withoutRam(stateB), fields);
            same &= fields.isEmpty();
            return Json.object().put("identical", same).put("ram", ram.build())
                    .put("device-fields", new Json.Arr(fields)).build();
        } catch (IOException e) {
            throw new MigrationException("cannot compare: " + MigrationException.reason(e), e);
        } finally {
            try (Stream<Path> files = Files.walk(work)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            } catch (IOException ignored) {
                // a scratch directory left in /tmp is harmless
            }
        }
    }

    private static Json.Obj comparePages(Path fa, Path fb) throws IOException {
        long differing = 0;
        List<Json> first = new ArrayList<>();
        try (var x = new RandomAccessFile(fa.toFile(), "r"); var y = new RandomAccessFile(fb.toFile(), "r")) {
            long len = Math.max(x.length(), y.length());
            byte[] p = new byte[PAGE];
            byte[] q = new byte[PAGE];
            for (long off = 0; off < len; off += PAGE) {
                read(x, off, p);
                read(y, off, q);
                if (!java.util.Arrays.equals(p, q)) {
                    if (differing++ < LISTED) {
                        first.add(new Json.Str(String.format("0x%016x", off)));
                    }
                }
            }
        }
        return Json.object().put("differing-pages", differing).put("first", new Json.Arr(first)).build();
    }

    private static void read(RandomAccessFile f, long off, byte[] page) throws IOException {
        java.util.Arrays.fill(page, (byte) 0);
        if (off < f.length()) {
            f.seek(off);
            f.read(page, 0, (int) Math.min(PAGE, f.length() - off));
        }
    }

    private static Map<String, Json> withoutRam(Json.Obj state) {
        Map<String, Json> m = new LinkedHashMap<>();
        for (Json.Member member : state.members()) {
            if (!(member.value() instanceof Json.Obj o && o.has("section sizes"))) {
                m.put(member.name().replaceAll(" \\(\\d+\\)$", ""), member.value()); // section ids may differ
            }
        }
        return m;
    }

    private static void compare(String path, Map<String, Json> a, Map<String, Json> b, List<Json> out) {
        for (var e : a.entrySet()) {
            compare(path + e.getKey(), e.getValue(), b.get(e.getKey()), out);
        }
        for (var e : b.entrySet()) {
            if (!a.containsKey(e.getKey())) {
                compare(path + e.getKey(), null, e.getValue(), out);
            }
        }
    }

    private static void compare(String path, Json a, Json b, List<Json> out) {
        if (a instanceof Json.Obj x && b instanceof Json.Obj y) {
            compare(path + "/", members(x), members(y), out);
        } else if (a instanceof Json.Arr x && b instanceof Json.Arr y && x.elements().size() == y.elements().size()) {
            for (int i = 0; i < x.elements().size(); i++) {
                compare(path + "[" + i + "]", x.elements().get(i), y.elements().get(i), out);
            }
        } else if (a == null || !a.equals(b)) {
            if (out.size() < 10_000) {
                out.add(Json.object().put("path", path).put("a", a == null ? new Json.Null() : a)
                        .put("b", b == null ? new Json.Null() : b).build());
            }
        }
    }

    private static Map<String, Json> members(Json.Obj o) {
        Map<String, Json> m = new LinkedHashMap<>();
        o.members().forEach(member -> m.put(member.name(), member.value()));
        return m;
    }
}
