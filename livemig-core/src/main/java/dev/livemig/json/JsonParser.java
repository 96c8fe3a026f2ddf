package dev.livemig.json;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A JSON parser for untrusted text, following QEMU's qobject/json-parser.c: the text must be valid UTF-8 and
 * every string valid Unicode (a lone surrogate, even escaped, is refused); numbers keep their text but never
 * have a leading zero; nesting stops at QEMU's {@link #MAX_NESTING}. The whole text is lexed before it is
 * parsed, so a lexical error anywhere wins over a syntax error, as in QEMU's streamer. Errors carry QEMU's
 * texts. Throws {@link JsonParseException}, nothing else. Which extensions apply is the {@link Syntax}.
 */
public final class JsonParser {
    /** QEMU's json-streamer.c MAX_NESTING: open objects and arrays at once. */
    public static final int MAX_NESTING = 1024;

    /** Which JSON is read. */
    public enum Syntax {
        /**
         * RFC 8259 and nothing more: what QEMU and analyze-migration.py write, read back from migration streams
         * (vmdescription) and files. Repeated keys are kept, as QEMU's vmdescription repeats them.
         */
        STRICT,
        /**
         * QMP input as QEMU reads it: single-quoted strings and the {@code \'} escape besides RFC 8259, QEMU's
         * modified UTF-8 (C0 80 is U+0000; noncharacters are refused) and a repeated key refused.
         */
        QMP
    }

    private final JsonLexer lexer;
    private final Syntax syntax;

    private JsonParser(byte[] utf8, Syntax syntax) {
        this.lexer = new JsonLexer(utf8, syntax);
        this.syntax = syntax;
    }

    /** Strict JSON from a String (which must hold no unpaired surrogate). */
    public static Json parse(String text) throws JsonParseException {
        return parse(text, Syntax.STRICT);
    }

    /** JSON of this syntax from a String; an unpaired surrogate in it is refused with a JsonParseException. */
    public static Json parse(String text, Syntax syntax) throws JsonParseException {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isSurrogate(c)) {
                if (Character.isHighSurrogate(c) && i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1))) {
                    i++;
                } else {
                    int offset = text.substring(0, i).getBytes(StandardCharsets.UTF_8).length;
                    throw new JsonParseException("JSON parse error, unpaired surrogate in the text", offset);
                }
            }
        }
        return parse(text.getBytes(StandardCharsets.UTF_8), syntax);
    }

    /** JSON from its UTF-8 bytes, which are not changed and must not change while this runs. */
    public static Json parse(byte[] utf8, Syntax syntax) throws JsonParseException {
        lexicallyValid(utf8, syntax);
        var parser = new JsonParser(utf8, syntax);
        parser.lexer.next();
        Json value = parser.value(0);
        if (parser.lexer.kind() != JsonLexer.Kind.END) {
            throw parser.fail("unexpected token after the value");
        }
        return value;
    }

    /** The first pass, as QEMU's lexer and streamer see the text: every token valid, nesting within bounds. */
    private static void lexicallyValid(byte[] utf8, Syntax syntax) throws JsonParseException {
        var tokens = new JsonLexer(utf8, syntax);
        int open = 0;
        for (JsonLexer.Kind k; (k = tokens.next()) != JsonLexer.Kind.END; ) {
            switch (k) {
                case LCURLY, LSQUARE -> {
                    if (++open > MAX_NESTING) {
                        throw new JsonParseException("JSON nesting depth limit exceeded", tokens.start());
                    }
                }
                case RCURLY, RSQUARE -> open--;
                default -> {
                    // only brackets nest
                }
            }
        }
    }

    /** The value at the current token, leaving the lexer on the token after it; {@code depth} encloses it. */
    private Json value(int depth) throws JsonParseException {
        return switch (lexer.kind()) {
            case END -> throw fail("premature EOI");
            case LCURLY -> object(depth + 1);
            case LSQUARE -> array(depth + 1);
            case STRING -> {
                var s = new Json.Str(StringLiteral.decode(lexer.text(), lexer.start(), lexer.end(), syntax));
                lexer.next();
                yield s;
            }
            case NUMBER -> {
                var n = new Json.Num(tokenText());
                lexer.next();
                yield n;
            }
            case KEYWORD -> {
                Json k = switch (tokenText()) {
                    case "true" -> new Json.Bool(true);
                    case "false" -> new Json.Bool(false);
                    case "null" -> new Json.Null();
                    default -> throw fail("invalid keyword '" + shortened(tokenText()) + "'");
                };
                lexer.next();
                yield k;
            }
            default -> throw fail("expecting value");
        };
    }

    private Json object(int depth) throws JsonParseException {
        checkNesting(depth);
        List<Json.Member> members = new ArrayList<>();
        Set<String> names = syntax == Syntax.QMP ? new HashSet<>() : null;
        if (afterOpening() == JsonLexer.Kind.RCURLY) {
            lexer.next();
            return new Json.Obj(members);
        }
        while (true) {
            int keyAt = lexer.start();
            if (!(value(depth) instanceof Json.Str(String name))) {
                throw new JsonParseException("JSON parse error, key is not a string in object", keyAt);
            }
            if (present() != JsonLexer.Kind.COLON) {
                throw fail("missing : in object pair");
            }
            lexer.next();
            Json value = value(depth);
            if (names != null && !names.add(name)) {
                throw fail("duplicate key"); // QEMU's QDict holds one value per key
            }
            members.add(new Json.Member(name, value));
            switch (present()) {
                case RCURLY -> {
                    lexer.next();
                    return new Json.Obj(members);
                }
                case COMMA -> lexer.next();
                default -> throw fail("expected separator in dict");
            }
        }
    }

    private Json array(int depth) throws JsonParseException {
        checkNesting(depth);
        List<Json> elements = new ArrayList<>();
        if (afterOpening() == JsonLexer.Kind.RSQUARE) {
            lexer.next();
            return new Json.Arr(elements);
        }
        while (true) {
            elements.add(value(depth));
            switch (present()) {
                case RSQUARE -> {
                    lexer.next();
                    return new Json.Arr(elements);
                }
                case COMMA -> lexer.next();
                default -> throw fail("expected separator in list");
            }
        }
    }

    /** Steps past an opening bracket; the text may not end there. */
    private JsonLexer.Kind afterOpening() throws JsonParseException {
        lexer.next();
        return present();
    }

    /** The current token, which must exist: QEMU calls the end of the text here a premature EOI. */
    private JsonLexer.Kind present() throws JsonParseException {
        if (lexer.kind() == JsonLexer.Kind.END) {
            throw fail("premature EOI");
        }
        return lexer.kind();
    }

    /** The first pass has bounded nesting already; this keeps the recursion bounded on its own. */
    private void checkNesting(int depth) throws JsonParseException {
        if (depth > MAX_NESTING) {
            throw new JsonParseException("JSON nesting depth limit exceeded", lexer.start());
        }
    }

    private String tokenText() {
        return new String(lexer.text(), lexer.start(), lexer.end() - lexer.start(), StandardCharsets.US_ASCII);
    }

    /** A keyword is any run of a-z: a long one is shown by its start. */
    private static String shortened(String word) {
        return word.length() <= 64 ? word : word.substring(0, 64) + "...";
    }

    private JsonParseException fail(String what) {
        return new JsonParseException("JSON parse error, " + what, lexer.start());
    }
}
