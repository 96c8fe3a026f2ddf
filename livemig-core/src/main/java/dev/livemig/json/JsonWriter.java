package dev.livemig.json;

import java.util.List;

/**
 * Writes {@link Json} in two layouts: QEMU's compact one (", " and ": " separators, no newlines, 7-bit ASCII
 * with upper-case hex in {@code \\u00E9}-style escapes; §5.2 of the format reference) and Python's
 * {@code json.dumps(indent=4)} layout, which analyze-migration.py prints.
 */
public final class JsonWriter {
    private JsonWriter() {
    }

    /** QEMU's compact form, as found in the vmdescription trailer. */
    public static String compact(Json value) {
        var sb = new StringBuilder();
        write(sb, value, -1, 0);
        return sb.toString();
    }

    /** Indented by {@code indent} spaces per level, separators "," and ": " (Python's json.dumps style). */
    public static String pretty(Json value, int indent) {
        var sb = new StringBuilder();
        write(sb, value, indent, 0);
        return sb.toString();
    }

    /**
     * {@link #pretty(Json, int)} written to {@code out} as it goes, for values whose text could exceed what
     * one String holds (the memory dump of a large stream).
     */
    public static void pretty(Json value, int indent, java.io.Writer out) throws java.io.IOException {
        var sb = new StringBuilder();
        try {
            write(sb, value, indent, 0, out);
        } catch (java.io.UncheckedIOException e) {
            throw e.getCause();
        }
        out.append(sb);
    }

    private static void write(StringBuilder sb, Json v, int indent, int depth) {
        write(sb, v, indent, depth, null);
    }

    /** Hands what is buffered to {@code sink} (if any) once it holds a megabyte. */
    private static void drain(StringBuilder sb, java.io.Writer sink) {
        if (sink != null && sb.length() >= 1 << 20) {
            try {
                sink.write(sb.toString()); // Writer.append would copy into a String all the same
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            sb.setLength(0);
        }
    }

    /** Bytes as their hex text, quoted, a page-sized run at a time (into the sink as it goes when there is one). */
    private static void hex(StringBuilder sb, Json.HexBytes h, java.io.Writer sink) {
        long n = h.bytes().byteSize();
        char[] run = new char[3 * 4096];
        sb.append('"');
        for (long i = 0; i < n; i += 4096) {
            sb.append(run, 0, h.text(i, Math.min(n, i + 4096), run));
            drain(sb, sink);
        }
        sb.append('"');
    }

    private static void write(StringBuilder sb, Json v, int indent, int depth, java.io.Writer sink) {
        switch (v) {
            case Json.Obj(List<Json.Member> members) -> {
                if (members.isEmpty()) {
                    sb.append("{}");
                    return;
                }
                sb.append('{');
                for (int i = 0; i < members.size(); i++) {
                    separate(sb, i, indent, depth + 1);
                    quote(sb, members.get(i).name());
                    sb.append(": ");
                    write(sb, members.get(i).value(), indent, depth + 1, sink);
                    drain(sb, sink);
                }
                close(sb, indent, depth);
                sb.append('}');
            }
            case Json.Arr(List<Json> elements) -> {
                if (elements.isEmpty()) {
                    sb.append("[]");
                    return;
                }
                sb.append('[');
                for (int i = 0; i < elements.size(); i++) {
                    separate(sb, i, indent, depth + 1);
                    write(sb, elements.get(i), indent, depth + 1, sink);
                    drain(sb, sink);
                }
                close(sb, indent, depth);
                sb.append(']');
            }
            case Json.Str(String s) -> quote(sb, s);
            case Json.HexBytes h -> hex(sb, h, sink);
            case Json.Num(String t) -> sb.append(t);
            case Json.Bool(boolean b) -> sb.append(b);
            case Json.Null() -> sb.append("null");
        }
    }

    private static void separate(StringBuilder sb, int i, int indent, int depth) {
        if (indent < 0) {
            if (i > 0) {
                sb.append(", ");
            }
        } else {
            if (i > 0) {
                sb.append(',');
            }
            sb.append('\n').repeat(' ', indent * depth);
        }
    }

    private static void close(StringBuilder sb, int indent, int depth) {
        if (indent >= 0) {
            sb.append('\n').repeat(' ', indent * depth);
        }
    }

    private static boolean plain(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
                return false;
            }
        }
        return true;
    }

    /** A JSON string literal, escaped as QEMU escapes (and as Python's ensure_ascii does). */
    public static void quote(StringBuilder sb, String s) {
        if (plain(s)) { // the common case, and the only one in a memory dump: nothing to escape
            sb.append('"').append(s).append('"');
            return;
        }
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20 || c >= 0x7f) {
                        sb.append(String.format("\\u%04X", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }
}
