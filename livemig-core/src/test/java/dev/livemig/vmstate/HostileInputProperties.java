package dev.livemig.vmstate;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParseException;
import dev.livemig.json.JsonParser;
import dev.livemig.json.JsonWriter;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A corrupted or truncated encoding, or a corrupted description, is refused with a {@link MigrationException}
 * and nothing else: no unchecked exception, no allocation sized by the input, no hang.
 */
class HostileInputProperties {
    private static byte[] corrupt(byte[] valid, Random rnd) {
        return switch (rnd.nextInt(3)) {
            case 0 -> Arrays.copyOf(valid, rnd.nextInt(valid.length + 1));
            case 1 -> {
                byte[] b = valid.clone();
                for (int k = 1 + rnd.nextInt(4); k > 0; k--) {
                    b[rnd.nextInt(b.length)] = (byte) rnd.nextInt();
                }
                yield b;
            }
            default -> {
                int at = rnd.nextInt(valid.length + 1);
                byte[] junk = new byte[1 + rnd.nextInt(8)];
                rnd.nextBytes(junk);
                byte[] b = new byte[valid.length + junk.length];
                System.arraycopy(valid, 0, b, 0, at);
                System.arraycopy(junk, 0, b, at, junk.length);
                System.arraycopy(valid, at, b, at + junk.length, valid.length - at);
                yield b;
            }
        };
    }

    @Property(tries = 1000)
    void corruptedEncodingLoadsOrFailsWithMigrationException(@ForAll long seed) throws MigrationException {
        var rnd = new Random(seed);
        var w = StreamWriter.inMemory();
        VmStateCodec.save(w, Device.VMSD, Device.random(seed));
        byte[] bad = corrupt(w.toByteArray(), rnd);
        try {
            VmStateCodec.load(StreamReader.of(bad), Device.VMSD, new Device(), 2 + rnd.nextInt(3));
        } catch (MigrationException e) {
            assertTrue(e.offset() >= 0, e::getMessage);
        }
    }

    @Property(tries = 1000)
    void corruptedEncodingWalkedByItsDescriptionFailsOnlyWithMigrationException(@ForAll long seed)
            throws MigrationException {
        var rnd = new Random(seed);
        var w = StreamWriter.inMemory();
        Json.Obj json = VmStateCodec.save(w, Device.VMSD, Device.random(seed));
        byte[] bad = corrupt(w.toByteArray(), rnd);
        try {
            DescribedSection.read(StreamReader.of(bad), json, 1 << 16);
        } catch (MigrationException e) {
            assertTrue(e.offset() >= 0, e::getMessage);
        }
    }

    @Property(tries = 1000)
    void corruptedDescriptionFailsOnlyWithMigrationException(@ForAll long seed) throws MigrationException {
        var rnd = new Random(seed);
        var w = StreamWriter.inMemory();
        String text = JsonWriter.compact(VmStateCodec.save(w, Device.VMSD, Device.random(seed)));
        char[] chars = text.toCharArray();
        String alphabet = "0123456789-{}[]\",: abcxyz";
        for (int k = 1 + rnd.nextInt(3); k > 0; k--) {
            chars[rnd.nextInt(chars.length)] = alphabet.charAt(rnd.nextInt(alphabet.length()));
        }
        Json parsed;
        try {
            parsed = JsonParser.parse(new String(chars));
        } catch (JsonParseException e) {
            return; // not JSON any more: the parser's business, not ours
        }
        if (!(parsed instanceof Json.Obj description)) {
            return;
        }
        try {
            DescribedSection.read(StreamReader.of(w.toByteArray()), description, 1 << 16);
        } catch (MigrationException e) {
            assertTrue(e.getMessage().contains("offset="), e::getMessage);
        }
    }
}
