package dev.livemig.json;

import java.util.ArrayList;
import java.util.List;

/**
 * A strict JSON parser for untrusted text: bounded nesting depth, errors that give the character offset,
 * repeated keys kept in order. Throws {@link JsonParseException}, nothing else.
 */
public final class JsonParser {
    private static final int MAX_DEPTH = 256;

    private final String text;
    private int pos;

    private JsonParser(String text) {
        this.text = text;
    }

    public static Json parse(String text) throws JsonParseException {
        var p = new JsonParser(text);
        p.ws();
        Json v = p.value(0);
        p.ws();
        if (p.pos != text.length()) {
            throw p.fail("trailing characters after the JSON value");
        }
        return v;
    }

    private Json value(int depth) throws JsonParseException {
        if (depth > MAX_DEPTH) {
            throw fail("nesting deeper than " + MAX_DEPTH);
        }
        if (pos >= text.length()) {
            throw fail("unexpected end of JSON");
        }
        char c = text.charAt(pos);
        return switch (c) {
            case '{' -> object(depth);
            case '[' -> array(depth);
            case '"' -> new Json.Str(string());
            case 't' -> literal("true", new Json.Bool(true));
            case 'f' -> literal("false", new Json.Bool(false));
            case 'n' -> literal("null", new Json.Null());
            default -> {
                if (c == '-' || (c >= '0' && c <= '9')) {
                    yield number();
                }
                throw fail("unexpected character '" + c + "'");
            }
        };
    }

    private Json object(int depth) throws JsonParseException {
        pos++;
        List<Json.Member> members = new ArrayList<>();
        ws();
        if (peek() == '}') {
            pos++;
            return new Json.Obj(members);
        }
        while (true) {
            ws();
            if (peek() != '"') {
                throw fail("expected a member name");
            }
            String name = string();
            ws();
            expect(':');
            ws();
            members.add(new Json.Member(name, value(depth + 1)));
            ws();
            char c = next();
            if (c == '}') {
                return new Json.Obj(members);
            }
            if (c != ',') {
                pos--;
                throw fail("expected ',' or '}'");
            }
        }
    }

    private Json array(int depth) throws JsonParseException {
        pos++;
        List<Json> elements = new ArrayList<>();
        ws();
        if (peek() == ']') {
            pos++;
            return new Json.Arr(elements);
        }
        while (true) {
            ws();
            elements.add(value(depth + 1));
            ws();
            char c = next();
            if (c == ']') {
                return new Json.Arr(elements);
            }
            if (c != ',') {
                pos--;
                throw fail("expected ',' or ']'");
            }
        }
    }

    private String string() throws JsonParseException {
        pos++; // opening quote
        var sb = new StringBuilder();
        while (true) {
            char c = next();
            if (c == '"') {
                return sb.toString();
            }
            if (c == '\\') {
                char e = next();
                switch (e) {
                    case '"', '\\', '/' -> sb.append(e);
                    case 'b' -> sb.append('\b');
                    case 'f' -> sb.append('\f');
                    case 'n' -> sb.append('\n');
                    case 'r' -> sb.append('\r');
                    case 't' -> sb.append('\t');
                    case 'u' -> {
                        if (pos + 4 > text.length()) {
                            throw fail("truncated \\u escape");
                        }
                        try {
                            sb.append((char) Integer.parseInt(text.substring(pos, pos + 4), 16));
                        } catch (NumberFormatException ex) {
                            throw fail("bad \\u escape");
                        }
                        pos += 4;
                    }
                    default -> {
                        pos--;
                        throw fail("bad escape '\\" + e + "'");
                    }
                }
            } else if (c < 0x20) {
                pos--;
                throw fail("control character in string");
            } else {
                sb.append(c);
            }
        }
    }

    private Json number() throws JsonParseException {
        int start = pos;
        if (peek() == '-') {
            pos++;
        }
        digits();
        if (peek() == '.') {
            pos++;
            digits();
        }
        if (peek() == 'e' || peek() == 'E') {
            pos++;
            if (peek() == '+' || peek() == '-') {
                pos++;
            }
            digits();
        }
        return new Json.Num(text.substring(start, pos));
    }

    private void digits() throws JsonParseException {
        int start = pos;
        while (pos < text.length() && Character.isDigit(text.charAt(pos)) && text.charAt(pos) < 128) {
            pos++;
        }
        if (pos == start) {
            throw fail("expected a digit");
        }
    }

    private Json literal(String word, Json value) throws JsonParseException {
        if (!text.startsWith(word, pos)) {
            throw fail("unexpected literal");
        }
        pos += word.length();
        return value;
    }

    private void expect(char c) throws JsonParseException {
        if (next() != c) {
            pos--;
            throw fail("expected '" + c + "'");
        }
    }

    private char peek() {
        return pos < text.length() ? text.charAt(pos) : '\0';
    }

    private char next() throws JsonParseException {
        if (pos >= text.length()) {
            throw fail("unexpected end of JSON");
        }
        return text.charAt(pos++);
    }

    private void ws() {
        while (pos < text.length()) {
            char c = text.charAt(pos);
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
                return;
            }
            pos++;
        }
    }

    private JsonParseException fail(String message) {
        return new JsonParseException(message + " at offset " + pos, pos);
    }
}
