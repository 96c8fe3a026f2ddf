package dev.livemig.wire;

import dev.livemig.testing.CraftedStreams;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import static org.junit.jupiter.api.Assertions.*;

class MigrationExceptionTest {
    /** True when every char is printable ASCII or a letter-like char no terminal acts on. */
    static boolean safeForATerminal(String s) {
        return s.chars().noneMatch(c -> c < 0x20 || (c >= 0x7f && c <= 0x9f) || (c >= 0x202a && c <= 0x202e)
                || (c >= 0x2066 && c <= 0x2069) || c == 0x200e || c == 0x200f || c == 0x061c);
    }

    @Test
    void streamTextIsQuotedByteForByte() {
        assertEquals("pc.ram", MigrationException.quote("pc.ram"));
        assertEquals("\\x1b[2J\\x0averified: ok\\x9b\\xff\\\\", MigrationException.quote("\u001b[2J\nverified: ok\u009b\u00ff\\"));
    }

    @Test
    void aSectionNameFromAStreamNeverReachesTheMessageRaw() {
        var e = new MigrationException("unknown section", CraftedStreams.ESCAPE_IDSTR, 0x40, null);
        assertTrue(safeForATerminal(e.getMessage()), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "no line of its own: " + e.getMessage());
        assertTrue(e.getMessage().contains("section=\\x1b[2J\\x1b[31mdev\\x0averified: ok\\x9b0m\\xff offset=0x40"), e.getMessage());
    }

    @Test
    void everyMessageLosesItsControlAndBidiCharacters() {
        String hostile = "block=" + "a\u001b]0;title\u0007b\u202eevil\u2066x\r\n";
        var e = new MigrationException(hostile);
        assertTrue(safeForATerminal(e.getMessage()), e.getMessage());
        assertEquals("block=a\\x1b]0;title\\x07b\\u{202e}evil\\u{2066}x\\x0d\\x0a", e.getMessage());
        assertEquals("caf\u00e9 \u6f22 plain", MigrationException.printable("caf\u00e9 \u6f22 plain"), "letters stay as they are");
    }

    @Test
    void aFileErrorsReasonIsTheOperatingSystemsNotJustThePath(@org.junit.jupiter.api.io.TempDir Path dir) {
        Path missing = dir.resolve("missing.snap");
        IOException e = assertThrows(IOException.class, () -> FileChannel.open(missing, StandardOpenOption.READ).close());
        assertInstanceOf(NoSuchFileException.class, e);
        assertEquals(missing.toString(), e.getMessage(), "what Java gives: the path alone");
        assertEquals("no such file or directory", MigrationException.reason(e));
        assertEquals("Connection refused", MigrationException.reason(new IOException("Connection refused")));
        assertEquals("EOFException", MigrationException.reason(new java.io.EOFException()));
    }
}
