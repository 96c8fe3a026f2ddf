package dev.livemig.json;

import java.nio.charset.StandardCharsets;

/**
 * Cuts UTF-8 JSON text into tokens by the rules of QEMU's qobject/json-lexer.c: whitespace is space, tab, CR
 * and LF; a number has no leading zero; a keyword is any run of a-z (the parser knows which exist); a string
 * ends at its own quote and may hold no control character and no byte 0xFE or 0xFF. Anything else is a
 * lexical error, reported as QEMU does: "JSON parse error, stray 'TOKEN-SO-FAR'". Whether a string's escapes
 * and UTF-8 are valid is left to {@link StringLiteral}, as QEMU leaves it to its parser.
 */
final class JsonLexer {
    enum Kind { LCURLY, RCURLY, LSQUARE, RSQUARE, COMMA, COLON, STRING, NUMBER, KEYWORD, END }

    /** A stray token longer than this is shown by its end, where the offending byte is. */
    private static final int SHOWN_BYTES = 64;

    private final byte[] text;
    private final JsonParser.Syntax syntax;
    private int pos;
    private Kind kind;
    private int start;

    JsonLexer(byte[] text, JsonParser.Syntax syntax) {
        this.text = text;
        this.syntax = syntax;
    }

    /** The current token's kind, after {@link #next()}. */
    Kind kind() {
        return kind;
    }

    /** Where the current token starts. */
    int start() {
        return start;
    }

    /** Where the current token ends (exclusive). */
    int end() {
        return pos;
    }

    byte[] text() {
        return text;
    }

    /** Moves to the next token and returns its kind; {@link Kind#END} at the end of the text. */
    Kind next() throws JsonParseException {
        while (pos < text.length && isWhitespace(text[pos])) {
            pos++;
        }
        start = pos;
        if (pos == text.length) {
            return kind = Kind.END;
        }
        int c = text[pos++] & 0xff;
        return kind = switch (c) {
            case '{' -> Kind.LCURLY;
            case '}' -> Kind.RCURLY;
            case '[' -> Kind.LSQUARE;
            case ']' -> Kind.RSQUARE;
            case ',' -> Kind.COMMA;
            case ':' -> Kind.COLON;
            case '"' -> string('"');
            case '\'' -> {
                if (syntax != JsonParser.Syntax.QMP) {
                    throw stray();
                }
                yield string('\'');
            }
            default -> {
                if (c == '-' || isDigit(c)) {
                    yield number(c);
                }
                if (c >= 'a' && c <= 'z') {
                    while (pos < text.length && text[pos] >= 'a' && text[pos] <= 'z') {
                        pos++;
                    }
                    yield Kind.KEYWORD;
                }
                throw stray();
            }
        };
    }

    private Kind string(int quote) throws JsonParseException {
        while (true) {
            int c = nextInString();
            if (c == quote) {
                return Kind.STRING;
            }
            if (c == '\\') {
                nextInString(); // which escapes exist is the parser's business, as in QEMU
            }
        }
    }

    private int nextInString() throws JsonParseException {
        if (pos == text.length) {
            throw stray(); // the text ends inside the string
        }
        int c = text[pos++] & 0xff;
        if (c < 0x20 || c >= 0xfe) {
            throw stray();
        }
        return c;
    }

    private Kind number(int first) throws JsonParseException {
        int c = first;
        if (c == '-') {
            c = requireDigit();
        }
        boolean zero = c == '0';
        if (zero) {
            if (pos < text.length && isDigit(text[pos])) {
                pos++;
                throw stray(); // a leading zero
            }
        } else {
            digits();
        }
        boolean fraction = pos < text.length && text[pos] == '.';
        if (fraction) {
            pos++;
            requireDigit();
            digits();
        }
        // QEMU ends "0" before an exponent ("0e5" is 0 and then a stray keyword); RFC 8259 allows it
        boolean exponentAllowed = !zero || fraction || syntax == JsonParser.Syntax.STRICT;
        if (exponentAllowed && pos < text.length && (text[pos] == 'e' || text[pos] == 'E')) {
            pos++;
            if (pos < text.length && (text[pos] == '+' || text[pos] == '-')) {
                pos++;
            }
            requireDigit();
            digits();
        }
        return Kind.NUMBER;
    }

    private int requireDigit() throws JsonParseException {
        if (pos == text.length) {
            throw stray();
        }
        int c = text[pos++] & 0xff;
        if (!isDigit(c)) {
            throw stray();
        }
        return c;
    }

    private void digits() {
        while (pos < text.length && isDigit(text[pos])) {
            pos++;
        }
    }

    private JsonParseException stray() {
        int from = Math.max(start, pos - SHOWN_BYTES);
        String shown = new String(text, from, pos - from, StandardCharsets.UTF_8); // bad UTF-8 shows as U+FFFD, as QEMU writes it
        return new JsonParseException("JSON parse error, stray '" + (from > start ? "..." : "") + shown + "'", start);
    }

    private static boolean isWhitespace(byte b) {
        return b == ' ' || b == '\t' || b == '\n' || b == '\r';
    }

    private static boolean isDigit(int c) {
        return c >= '0' && c <= '9';
    }
}
