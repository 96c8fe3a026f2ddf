package dev.livemig.transport.tls;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** QEMU's glob rules are GLib's simple patterns: '*' and '?' only, and the whole identity must match. */
class GlobPatternTest {

    @Test
    void aStarMatchesAnyRunOfCharactersSlashesIncludedAndNone() {
        assertTrue(GlobPattern.matches("dan*", "dan"));
        assertTrue(GlobPattern.matches("dan*", "danb"));
        assertTrue(GlobPattern.matches("dan*", "dan/x/y"));
        assertTrue(GlobPattern.matches("*", ""));
        assertTrue(GlobPattern.matches("a**b", "ab"));
        assertFalse(GlobPattern.matches("dan*", "da"));
    }

    @Test
    void aQuestionMarkMatchesExactlyOneCharacterEvenOutsideTheBmp() {
        assertTrue(GlobPattern.matches("d?n", "dan"));
        assertFalse(GlobPattern.matches("d?n", "dn"));
        assertFalse(GlobPattern.matches("d?n", "daan"));
        assertTrue(GlobPattern.matches("?", "\uD83D\uDE00"), "one code point, two chars");
        assertTrue(GlobPattern.matches("CN=?", "CN=é"));
    }

    @Test
    void theWholeIdentityMustMatchNotAPrefix() {
        assertFalse(GlobPattern.matches("qemu", "qemu.org"));
        assertFalse(GlobPattern.matches("emu*", "qemu"));
        assertTrue(GlobPattern.matches("qemu", "qemu"));
    }

    @Test
    void bracketsAndBackslashesStandForThemselves() {
        assertTrue(GlobPattern.matches("[ab]c", "[ab]c"));
        assertFalse(GlobPattern.matches("[ab]c", "ac"));
        assertTrue(GlobPattern.matches("a\\*", "a\\anything"), "the backslash is literal, the star still a wildcard");
        assertFalse(GlobPattern.matches("a\\*", "a*"));
        assertTrue(GlobPattern.matches("CN=a\\,b*", "CN=a\\,b,O=x"));
    }

    @Test
    void theWildcardsOfQemusTlsSessionTestsDecideAsThere() {
        String client = "C=UK,CN=qemu";
        assertFalse(GlobPattern.matches("C=UK,CN=dogfood", client));
        assertTrue(GlobPattern.matches("C=UK,CN=qemu", client));
        assertFalse(GlobPattern.matches("C=UK,CN=qemustuff", client));
        assertTrue(GlobPattern.matches("C=UK,CN=qemu*", client));
        assertTrue(GlobPattern.matches("C=UK,CN=*emu*", client));
    }

    @Test
    @Timeout(value = 10, unit = TimeUnit.SECONDS)
    void manyStarsAgainstALongMismatchTakeNoExponentialTime() {
        String pattern = "*a".repeat(30) + "*b";
        assertFalse(GlobPattern.matches(pattern, "a".repeat(20_000)));
        assertTrue(GlobPattern.matches(pattern, "a".repeat(20_000) + "b"));
    }
}
