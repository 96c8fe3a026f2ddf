package dev.livemig.json;

import dev.livemig.json.JsonParser.Syntax;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The parser against QEMU's json-lexer.c and json-parser.c: what each syntax accepts, and for what it refuses,
 * QEMU's own error text.
 */
class JsonParserTest {

    private static Json qmp(String text) throws JsonParseException {
        return JsonParser.parse(text, Syntax.QMP);
    }

    private static Json qmp(byte[] utf8) throws JsonParseException {
        return JsonParser.parse(utf8, Syntax.QMP);
    }

    /** Bytes of a string literal: a quote, {@code raw} as given, a quote. */
    private static byte[] quoted(int... raw) {
        byte[] b = new byte[raw.length + 2];
        b[0] = '"';
        for (int i = 0; i < raw.length; i++) {
            b[i + 1] = (byte) raw[i];
        }
        b[b.length - 1] = '"';
        return b;
    }

    private static void refusedInBoth(String desc, String text) {
        for (Syntax s : Syntax.values()) {
            var e = assertThrows(JsonParseException.class, () -> JsonParser.parse(text, s), s + ": " + text);
            assertEquals(desc, e.desc(), s + ": " + text);
        }
    }

    private static void refusedInBoth(String desc, byte[] utf8) {
        for (Syntax s : Syntax.values()) {
            var e = assertThrows(JsonParseException.class, () -> JsonParser.parse(utf8, s), s.toString());
            assertEquals(desc, e.desc(), s.toString());
        }
    }

    @Test
    void parsesQemuTrailerFragment() throws Exception {
        Json.Obj o = JsonParser.parse("{\"page_size\": 4096, \"devices\": [{\"name\": \"fw_cfg\", \"instance_id\": 0, "
                + "\"fields\": [{\"name\": \"cur_entry\", \"type\": \"uint16\", \"size\": 2}]}]}").asObject();
        assertEquals(4096, o.number("page_size"));
        Json.Obj dev = o.array("devices").get(0).asObject();
        assertEquals("fw_cfg", dev.string("name"));
        assertEquals(2, dev.array("fields").get(0).asObject().number("size"));
    }

    @Test
    void roundTripsEscapes() throws Exception {
        String s = "q\"\\/\b\f\n\r\t\u0001é€\uD83D\uDE00\u0000";
        assertEquals(s, JsonParser.parse(JsonWriter.compact(Json.of(s))).asString());
    }

    @Test
    void numbersWithALeadingZeroAreRefusedAsQemuDoes() {
        refusedInBoth("JSON parse error, stray '01'", "01");
        refusedInBoth("JSON parse error, stray '-01'", "-01");
        refusedInBoth("JSON parse error, stray '00'", "{\"id\": 00}");
        refusedInBoth("JSON parse error, stray '01'", "{\"execute\": \"stop\", \"id\": 01}");
    }

    @Test
    void numbersKeepTheirTextWhenValid() throws Exception {
        for (String n : List.of("0", "-0", "7", "10", "0.5", "-0.5e-3", "1E+2", "12.25e7", "18446744073709551616", "1e400")) {
            for (Syntax s : Syntax.values()) {
                assertEquals(new Json.Num(n), JsonParser.parse(n, s), s + ": " + n);
            }
        }
    }

    @Test
    void incompleteNumbersAreStrayTokens() {
        refusedInBoth("JSON parse error, stray '-'", "-");
        refusedInBoth("JSON parse error, stray '-x'", "-x");
        refusedInBoth("JSON parse error, stray '1.'", "1.");
        refusedInBoth("JSON parse error, stray '1.e'", "1.e5");
        refusedInBoth("JSON parse error, stray '1e'", "1e");
        refusedInBoth("JSON parse error, stray '1e+]'", "[1e+]"); // the byte that breaks the token is part of it
        refusedInBoth("JSON parse error, stray '+'", "+1");
    }

    @Test
    void zeroWithAnExponentIsJsonButNotQmp() throws Exception {
        assertEquals(new Json.Num("0e5"), JsonParser.parse("0e5"));
        // QEMU's lexer ends the number at "0"; the "e" after it is a keyword where a separator belongs
        var e = assertThrows(JsonParseException.class, () -> qmp("{\"id\": 0e5}"));
        assertEquals("JSON parse error, expected separator in dict", e.desc());
    }

    @Test
    void singleQuotedStringsAreQmpOnly() throws Exception {
        assertEquals(Json.of("single"), qmp("'single'"));
        assertEquals(Json.of("it's"), qmp("'it\\'s'"));
        assertEquals(Json.of("say \"hi\""), qmp("'say \"hi\"'"));
        assertEquals(Json.of("'"), qmp("\"\\'\""), "the apostrophe escape is valid in double quotes too");
        Json.Obj o = qmp("{'execute': 'query-status', 'id': '}{'}").asObject();
        assertEquals("query-status", o.string("execute"));
        assertEquals("}{", o.string("id"));

        var stray = assertThrows(JsonParseException.class, () -> JsonParser.parse("'single'"));
        assertEquals("JSON parse error, stray '''", stray.desc());
        var escape = assertThrows(JsonParseException.class, () -> JsonParser.parse("\"\\'\""));
        assertEquals("JSON parse error, invalid escape sequence in string", escape.desc());
    }

    @Test
    void loneAndMismatchedSurrogateEscapesAreRefused() throws Exception {
        refusedInBoth("JSON parse error, \\ud800 is not a valid Unicode character", "\"\\ud800\"");
        refusedInBoth("JSON parse error, \\udc00 is not a valid Unicode character", "\"\\udc00\"");
        refusedInBoth("JSON parse error, \\uD800 is not a valid Unicode character", "\"\\uD800\\u0041\"");
        refusedInBoth("JSON parse error, \\ud800 is not a valid Unicode character", "\"\\ud800x\"");
        refusedInBoth("JSON parse error, \\ud800 is not a valid Unicode character", "\"\\ud800\\udbff\"");
        refusedInBoth("JSON parse error, \\u12G4 is not a valid Unicode character", "\"\\u12G4\"");
        refusedInBoth("JSON parse error, \\u12\" is not a valid Unicode character", "\"\\u12\"");
        for (Syntax s : Syntax.values()) {
            assertEquals(Json.of("\uD83D\uDE00"), JsonParser.parse("\"\\ud83d\\ude00\"", s), "a pair is one character");
            assertEquals(Json.of("\u0000"), JsonParser.parse("\"\\u0000\"", s));
        }
    }

    @Test
    void noncharactersAreUnicodeForJsonButRefusedByQmp() throws Exception {
        assertEquals(Json.of("\uFFFF"), JsonParser.parse("\"\\uffff\""));
        assertEquals(Json.of("\uDBFF\uDFFF"), JsonParser.parse("\"\\uDBFF\\uDFFF\""));
        var single = assertThrows(JsonParseException.class, () -> qmp("\"\\uFFFE\""));
        assertEquals("JSON parse error, \\uFFFE is not a valid Unicode character", single.desc());
        var pair = assertThrows(JsonParseException.class, () -> qmp("\"\\uDBFF\\uDFFF\""));
        assertEquals("JSON parse error, \\uDBFF\\uDFFF is not a valid Unicode character", pair.desc());
        var raw = assertThrows(JsonParseException.class, () -> qmp(quoted(0xef, 0xb7, 0x90))); // U+FDD0
        assertEquals("JSON parse error, invalid UTF-8 sequence in string", raw.desc());
    }

    @Test
    void invalidUtf8InStringsIsRefused() {
        int[][] bad = {
                {0x80},                   // a continuation byte alone
                {0xe2, 0x82},             // a sequence cut short
                {0xe2, 0x82, 'x'},        // ... by an ASCII byte
                {0xc1, 0x81},             // overlong 'A'
                {0xe0, 0x80, 0x80},       // overlong U+0000 in three bytes
                {0xed, 0xa0, 0x80},       // an encoded surrogate
                {0xf4, 0x90, 0x80, 0x80}, // beyond U+10FFFF
                {0xf8, 0x88, 0x80, 0x80, 0x80}, // five bytes
        };
        for (int[] b : bad) {
            refusedInBoth("JSON parse error, invalid UTF-8 sequence in string", quoted(b));
        }
        refusedInBoth("JSON parse error, stray '\"\uFFFD'", quoted(0xff));
        refusedInBoth("JSON parse error, stray '\"a\uFFFD'", quoted('a', 0xfe));
    }

    @Test
    void validUtf8IsRead() throws Exception {
        for (Syntax s : Syntax.values()) {
            assertEquals(Json.of("é€\uD83D\uDE00"), JsonParser.parse("\"é€\uD83D\uDE00\"".getBytes(StandardCharsets.UTF_8), s));
        }
    }

    @Test
    void modifiedUtf8NulIsQmpOnly() throws Exception {
        assertEquals(Json.of("\u0000"), qmp(quoted(0xc0, 0x80)));
        var e = assertThrows(JsonParseException.class, () -> JsonParser.parse(quoted(0xc0, 0x80), Syntax.STRICT));
        assertEquals("JSON parse error, invalid UTF-8 sequence in string", e.desc());
    }

    @Test
    void controlCharactersAndBytesOutsideTheGrammarAreStray() {
        refusedInBoth("JSON parse error, stray '\"a\t'", "\"a\tb\"");
        refusedInBoth("JSON parse error, stray '\"abc'", "\"abc");
        refusedInBoth("JSON parse error, stray 'T'", "True");
        refusedInBoth("JSON parse error, stray '@'", "[@]");
        refusedInBoth("JSON parse error, stray '\u0001'", "{\u0001}");
        refusedInBoth("JSON parse error, stray '\uFFFD'", "é".getBytes(StandardCharsets.UTF_8));
        String longString = "\"" + "x".repeat(200) + "\n\"";
        refusedInBoth("JSON parse error, stray '..." + "x".repeat(63) + "\n'", longString);
    }

    @Test
    void syntaxErrorsCarryQemusTexts() {
        refusedInBoth("JSON parse error, premature EOI", "");
        refusedInBoth("JSON parse error, premature EOI", " {");
        refusedInBoth("JSON parse error, premature EOI", "[1,");
        refusedInBoth("JSON parse error, premature EOI", "{\"a\": 1");
        refusedInBoth("JSON parse error, missing : in object pair", "{\"a\" 1}");
        refusedInBoth("JSON parse error, missing : in object pair", "{\"a\"}");
        refusedInBoth("JSON parse error, expected separator in dict", "{\"a\": 1 \"b\": 2}");
        refusedInBoth("JSON parse error, expected separator in list", "[1 2]");
        refusedInBoth("JSON parse error, expecting value", "[1,]");
        refusedInBoth("JSON parse error, expecting value", "{\"a\": }");
        refusedInBoth("JSON parse error, expecting value", "}");
        refusedInBoth("JSON parse error, key is not a string in object", "{1: 2}");
        refusedInBoth("JSON parse error, invalid keyword 'nul'", "nul");
        refusedInBoth("JSON parse error, invalid escape sequence in string", "\"\\x\"");
        refusedInBoth("JSON parse error, unexpected token after the value", "{\"a\": 1} x");
    }

    @Test
    void aLexicalErrorAnywhereWinsOverASyntaxErrorBeforeIt() {
        // QEMU's streamer reports a stray token as it comes, before the message is parsed at all
        refusedInBoth("JSON parse error, stray '@'", "{\"a\" 1, \"b\": @}");
    }

    @Test
    void repeatedKeysAreKeptForStreamsAndRefusedForQmp() throws Exception {
        Json.Obj kept = JsonParser.parse("{\"a\": 1, \"a\": 2}").asObject();
        assertEquals(2, kept.members().size());
        var e = assertThrows(JsonParseException.class, () -> qmp("{\"a\": [{\"b\": 1, \"b\": 2}]}"));
        assertEquals("JSON parse error, duplicate key", e.desc());
    }

    @Test
    void nestingStopsAtQemusLimitWithItsText() throws Exception {
        int limit = JsonParser.MAX_NESTING;
        assertInstanceOf(Json.Arr.class, JsonParser.parse("[".repeat(limit) + "]".repeat(limit)));
        refusedInBoth("JSON nesting depth limit exceeded", "[".repeat(limit + 1) + "]".repeat(limit + 1));
        refusedInBoth("JSON nesting depth limit exceeded", "[".repeat(100_000));
    }

    @Test
    void aStringWithAnUnpairedSurrogateIsNotJsonText() {
        var e = assertThrows(JsonParseException.class, () -> JsonParser.parse("[\"a\uD800\"]"));
        assertEquals("JSON parse error, unpaired surrogate in the text", e.desc());
        assertEquals(3, e.offset());
    }

    @Test
    void malformedTextIsAParseErrorWithOffset() {
        for (String bad : new String[] {"", "{", "{\"a\" 1}", "[1,]", "tru", "\"\\x\"", "{\"a\": 1} x", "-", "\"\u0001\""}) {
            var e = assertThrows(JsonParseException.class, () -> JsonParser.parse(bad), bad);
            assertTrue(e.offset() >= 0 && e.offset() <= bad.length(), bad);
            assertTrue(e.getMessage().startsWith(e.desc()) && e.getMessage().contains("offset=" + e.offset()), e.getMessage());
        }
    }

    @Property(tries = 500)
    void arbitraryTextNeverThrowsAnythingButParseErrors(@ForAll String text) {
        for (Syntax s : Syntax.values()) {
            try {
                JsonParser.parse(text, s);
            } catch (JsonParseException expected) {
                // the only allowed failure
            }
        }
    }

    @Property(tries = 500)
    void arbitraryBytesNeverThrowAnythingButParseErrors(@ForAll byte[] bytes) {
        for (Syntax s : Syntax.values()) {
            try {
                JsonParser.parse(bytes, s);
            } catch (JsonParseException expected) {
                // the only allowed failure
            }
        }
    }

    /**
     * Whatever QMP accepts is written back as strict JSON that reads as the same value: an echoed "id" is always
     * valid JSON, whatever quotes, escapes or number spelling the client used.
     */
    @Property(tries = 1000)
    void whatQmpAcceptsIsWrittenBackAsStrictJson(@ForAll("jsonish") String text) throws Exception {
        Json value;
        try {
            value = qmp(text);
        } catch (JsonParseException refused) {
            return;
        }
        String written = JsonWriter.compact(value);
        assertEquals(value, JsonParser.parse(written), written);
    }

    @Provide
    Arbitrary<String> jsonish() {
        return Arbitraries.of("{", "}", "[", "]", ",", ":", " ", "\"a\"", "'b'", "'\\''", "\"\\\"\"", "0", "-0", "01", "1.5e3",
                        "-", "true", "nul", "\"\\ud83d\\ude00\"", "\"\\ud800\"", "\"\\u00e9\"", "'é'", "\"\\u0000\"",
                        "'\"'", "\"\\/\"", "1e400")
                .list().ofMaxSize(12).map(parts -> String.join("", parts));
    }
}
