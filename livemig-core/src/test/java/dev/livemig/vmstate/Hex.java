package dev.livemig.vmstate;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;

/** Golden bytes written as in the format reference: hex digits, spaces ignored, "quoted" runs as ASCII. */
final class Hex {
    private Hex() {
    }

    static byte[] bytes(String spec) {
        var out = new ByteArrayOutputStream();
        var hex = new StringBuilder();
        boolean quoted = false;
        for (char c : spec.toCharArray()) {
            if (c == '"') {
                if (!quoted) {
                    out.writeBytes(HexFormat.of().parseHex(hex));
                    hex.setLength(0);
                }
                quoted = !quoted;
            } else if (quoted) {
                out.writeBytes(String.valueOf(c).getBytes(StandardCharsets.US_ASCII));
            } else if (!Character.isWhitespace(c)) {
                hex.append(c);
            }
        }
        out.writeBytes(HexFormat.of().parseHex(hex));
        return out.toByteArray();
    }
}
