package dev.livemig.qmp;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** How a byte stream is cut into QMP messages. */
class MessageFramerTest {
    private static List<String> frames(String input, int cap) throws Exception {
        var f = new MessageFramer(new ByteArrayInputStream(input.getBytes(StandardCharsets.UTF_8)), cap);
        List<String> out = new ArrayList<>();
        String m;
        while ((m = f.next()) != null) {
            out.add(m);
        }
        return out;
    }

    @Test
    void objectsEndWhenBalancedWithOrWithoutNewlines() throws Exception {
        assertEquals(List.of("{\"a\": [1, {\"b\": 2}]}", "{\"c\": 3}"),
                frames("  {\"a\": [1, {\"b\": 2}]}{\"c\": 3}\r\n", 100));
    }

    @Test
    void bracesAndEscapedQuotesInStringsDoNotCount() throws Exception {
        assertEquals(List.of("{\"id\": \"}\\\"{]\"}"), frames("{\"id\": \"}\\\"{]\"}", 100));
        assertEquals(List.of("{\"é\": \"ü\"}"), frames("{\"é\": \"ü\"}", 100));
    }

    @Test
    void strayClosersAndBareScalarsAreCutSoTheyCanBeRefused() throws Exception {
        assertEquals(List.of("{\"a\": 1]", "}"), frames("{\"a\": 1]}\n", 100));
        assertEquals(List.of("42", "\"x\""), frames("42\n\"x\"\n", 100));
    }

    @Test
    void aPartialMessageAtTheEndIsDropped() throws Exception {
        assertEquals(List.of("{}"), frames("{}{\"execute\": \"sto", 100));
    }

    @Test
    void theCapCountsOneMessageOnly() throws Exception {
        assertEquals(List.of("{\"a\": 1}", "{\"b\": 2}"), frames("{\"a\": 1}{\"b\": 2}", 8));
        assertThrows(MessageFramer.OversizedMessageException.class, () -> frames("{\"a\": 12}", 8));
    }
}
