package dev.livemig.json;

import java.nio.charset.StandardCharsets;

/**
 * Decodes one string token that {@link JsonLexer} found, as QEMU's json-parser.c parse_string does: the
 * escapes of RFC 8259 (and {@code \'} for QMP), a {@code \\u} surrogate pair joined into one character, and
 * every character checked to be valid Unicode. A lone or mismatched surrogate is refused, never passed on:
 * it has no UTF-8 form, so echoing it would write invalid JSON. QMP follows QEMU's modified UTF-8 further:
 * {@code C0 80} is U+0000 and Unicode's 66 noncharacters are refused. Errors carry QEMU's texts.
 */
final class StringLiteral {
    /** The smallest code point of each UTF-8 sequence length from 2 bytes on: anything below is overlong. */
    private static final int[] MIN_CODE_POINT = {0x80, 0x800, 0x10000, 0x200000, 0x4000000};

    private final byte[] text;
    private final JsonParser.Syntax syntax;
    private final int tokenStart;
    private final int close;
    private int pos;

    private StringLiteral(byte[] text, int start, int end, JsonParser.Syntax syntax) {
        this.text = text;
        this.syntax = syntax;
        this.tokenStart = start;
        this.close = end - 1; // the closing quote, which the lexer has checked
        this.pos = start + 1;
    }

    /** The value of the string token {@code text[start, end)}, quotes included. */
    static String decode(byte[] text, int start, int end, JsonParser.Syntax syntax) throws JsonParseException {
        return new StringLiteral(text, start, end, syntax).decode();
    }

    private String decode() throws JsonParseException {
        var sb = new StringBuilder(close - pos);
        while (pos < close) {
            int c = text[pos] & 0xff;
            if (c == '\\') {
                escape(sb);
            } else if (c < 0x80) {
                sb.append((char) c);
                pos++;
            } else {
                sb.appendCodePoint(multiByte());
            }
        }
        return sb.toString();
    }

    private void escape(StringBuilder sb) throws JsonParseException {
        int begin = pos;
        int e = text[pos + 1] & 0xff; // the lexer saw a character after every backslash
        pos += 2;
        switch (e) {
            case '"', '\\', '/' -> sb.append((char) e);
            case '\'' -> {
                if (syntax != JsonParser.Syntax.QMP) {
                    throw fail("invalid escape sequence in string");
                }
                sb.append('\'');
            }
            case 'b' -> sb.append('\b');
            case 'f' -> sb.append('\f');
            case 'n' -> sb.append('\n');
            case 'r' -> sb.append('\r');
            case 't' -> sb.append('\t');
            case 'u' -> sb.appendCodePoint(unicodeEscape(begin));
            default -> throw fail("invalid escape sequence in string");
        }
    }

    /** A {@code \\uXXXX} escape, joined with a following trail surrogate escape when it leads a pair. */
    private int unicodeEscape(int begin) throws JsonParseException {
        int cp = hex4(begin + 2);
        int after = begin + 6;
        if (cp >= 0xd800 && cp <= 0xdbff && after + 1 < close && text[after] == '\\' && text[after + 1] == 'u') {
            int trail = hex4(after + 2);
            if (trail >= 0xdc00 && trail <= 0xdfff) {
                cp = 0x10000 + ((cp & 0x3ff) << 10) + (trail & 0x3ff);
                after += 6;
            } else {
                cp = -1; // a lead surrogate followed by something other than a trail one
            }
        }
        if (!isValid(cp)) {
            // QEMU shows the escape (both of a pair), cut at the end of the token
            int shown = Math.min(after, close + 1) - begin;
            throw fail(new String(text, begin, shown, StandardCharsets.UTF_8) + " is not a valid Unicode character");
        }
        pos = after;
        return cp;
    }

    /** Four hex digits at {@code at} as a number, or -1. */
    private int hex4(int at) {
        if (at + 4 > close) {
            return -1;
        }
        int v = 0;
        for (int i = at; i < at + 4; i++) {
            int c = text[i];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0) {
                return -1;
            }
            v = v << 4 | d;
        }
        return v;
    }

    /** A UTF-8 sequence of two or more bytes, checked as QEMU's mod_utf8_codepoint checks it. */
    private int multiByte() throws JsonParseException {
        int lead = text[pos++] & 0xff;
        if ((lead & 0x40) == 0) {
            throw fail("invalid UTF-8 sequence in string"); // a continuation byte with nothing to continue
        }
        int length = Integer.numberOfLeadingZeros(~lead << 24); // the leading one bits: 2..6 (the lexer refused 0xFE, 0xFF)
        int cp = lead & (0x7f >> length);
        for (int i = 1; i < length; i++) {
            int c = pos < close ? text[pos] & 0xff : 0;
            if ((c & 0xc0) != 0x80) {
                throw fail("invalid UTF-8 sequence in string");
            }
            pos++;
            cp = cp << 6 | (c & 0x3f);
        }
        boolean nul = cp == 0 && length == 2 && syntax == JsonParser.Syntax.QMP; // modified UTF-8's U+0000
        if (!isValid(cp) || (cp < MIN_CODE_POINT[length - 2] && !nul)) {
            throw fail("invalid UTF-8 sequence in string");
        }
        return cp;
    }

    /** QEMU's is_valid_codepoint; strict JSON allows noncharacters, which are still Unicode. */
    private boolean isValid(int cp) {
        if (cp < 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        boolean nonCharacter = (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe;
        return !(nonCharacter && syntax == JsonParser.Syntax.QMP);
    }

    private JsonParseException fail(String what) {
        return new JsonParseException("JSON parse error, " + what, tokenStart);
    }
}
