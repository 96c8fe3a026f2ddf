package dev.livemig.json;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class JsonWriterTest {

    @Test
    void compactLayoutIsQemus() {
        Json v = Json.object().put("page_size", 4096)
                .put("devices", new Json.Arr(List.of(Json.object().put("name", "timer").put("instance_id", 0).build())))
                .put("empty", new Json.Arr(List.of()))
                .build();
        assertEquals("{\"page_size\": 4096, \"devices\": [{\"name\": \"timer\", \"instance_id\": 0}], \"empty\": []}",
                JsonWriter.compact(v));
    }

    @Test
    void stringsAreEscapedToSevenBitAsciiWithUpperCaseHex() {
        assertEquals("\"a\\\"b\\\\c\\n\\t\\u0001\\u00E9\\u20AC\"", JsonWriter.compact(Json.of("a\"b\\c\n\t\u0001é€")));
    }

    @Test
    void prettyLayoutIsPythonsIndentFour() {
        Json v = Json.object().put("a", 1).put("b", new Json.Arr(List.of(Json.of(true), new Json.Null()))).build();
        assertEquals("{\n    \"a\": 1,\n    \"b\": [\n        true,\n        null\n    ]\n}", JsonWriter.pretty(v, 4));
    }

    @Test
    void repeatedKeysAreKeptInOrder() throws Exception {
        Json v = JsonParser.parse("{\"fields\": 1, \"fields\": 2}");
        assertEquals("{\"fields\": 1, \"fields\": 2}", JsonWriter.compact(v));
    }
}
