package dev.livemig.json;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class JsonParserTest {

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
        String s = "q\"\\/\b\f\n\r\t\u0001é€";
        assertEquals(s, JsonParser.parse(JsonWriter.compact(Json.of(s))).asString());
    }

    @Test
    void malformedTextIsAParseErrorWithOffset() {
        for (String bad : new String[] {"", "{", "{\"a\" 1}", "[1,]", "tru", "\"\\x\"", "{\"a\": 1} x", "-", "\"\u0001\""}) {
            var e = assertThrows(JsonParseException.class, () -> JsonParser.parse(bad), bad);
            assertTrue(e.offset() >= 0 && e.offset() <= bad.length(), bad);
        }
    }

    @Test
    void deepNestingIsRefusedNotAStackOverflow() {
        String deep = "[".repeat(100_000);
        assertThrows(JsonParseException.class, () -> JsonParser.parse(deep));
    }

    @Property(tries = 500)
    void arbitraryTextNeverThrowsAnythingButParseErrors(@ForAll String text) {
        try {
            JsonParser.parse(text);
        } catch (JsonParseException expected) {
            // the only allowed failure
        }
    }
}
