package dev.livemig.transport.tls;

/**
 * The wildcards of an authz-list rule in glob format, as QEMU matches them (GLib's g_pattern_match_simple, not
 * fnmatch): {@code *} stands for any run of characters, '/' included, {@code ?} for exactly one character (a code
 * point, as GLib counts UTF-8 characters); every other character, '[' and '\' too, stands for itself.
 */
final class GlobPattern {
    private GlobPattern() {
    }

    /** Whether {@code text} matches {@code pattern} as a whole. */
    static boolean matches(String pattern, String text) {
        int[] p = pattern.codePoints().toArray();
        int[] t = text.codePoints().toArray();
        int pi = 0;
        int ti = 0;
        // After a '*', a mismatch retries with that star taking one more character: time stays at most
        // pattern length times text length, where naive recursion is exponential in the number of stars.
        int star = -1;
        int starText = 0;
        while (ti < t.length) {
            if (pi < p.length && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti]))) {
                pi++;
                ti++;
            } else if (pi < p.length && p[pi] == '*') {
                star = pi++;
                starText = ti;
            } else if (star >= 0) {
                pi = star + 1;
                ti = ++starText;
            } else {
                return false;
            }
        }
        while (pi < p.length && p[pi] == '*') {
            pi++;
        }
        return pi == p.length;
    }
}
