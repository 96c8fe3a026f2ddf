package dev.livemig.wire;

import java.util.SplittableRandom;

/**
 * A stream with one to three bytes changed, for tests that every reader of a corrupted stream ends in an answer
 * or a {@link MigrationException}: a third of the changes in the first 4 KiB (header, configuration, RAM setup),
 * a third in the last {@code tail} bytes (device sections, the trailer), a third anywhere.
 */
public record Corruption(byte[] bytes, String description) {
    public static Corruption of(byte[] original, int tail, SplittableRandom random) {
        byte[] bytes = original.clone();
        StringBuilder what = new StringBuilder();
        for (int k = 1 + random.nextInt(3); k > 0; k--) {
            int at = switch (random.nextInt(3)) {
                case 0 -> random.nextInt(Math.min(bytes.length, 4096));
                case 1 -> bytes.length - 1 - random.nextInt(Math.min(bytes.length, tail));
                default -> random.nextInt(bytes.length);
            };
            int flip = 1 + random.nextInt(255);
            bytes[at] ^= (byte) flip;
            what.append(String.format(" byte 0x%x ^= 0x%02x", at, flip));
        }
        return new Corruption(bytes, what.toString().strip());
    }
}
