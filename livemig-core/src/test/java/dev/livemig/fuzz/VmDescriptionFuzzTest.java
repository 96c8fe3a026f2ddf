package dev.livemig.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.livemig.json.Json;
import dev.livemig.json.JsonParseException;
import dev.livemig.json.JsonParser;
import dev.livemig.json.JsonWriter;
import dev.livemig.savevm.DescribedDevices;
import dev.livemig.vmstate.DescribedSection;
import dev.livemig.vmstate.VmStateCodec;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The vmdescription trailer: its JSON text (STRICT syntax, as QEMU writes it), the device table built from
 * it, and a section body walked by a device's description, which is as untrusted as the body. Seeds: the
 * trailers of a livemig and a QEMU 7.2 stream (its first devices), and the timer device's description with its
 * state.
 */
class VmDescriptionFuzzTest {
    /** Walks at most this much of a described section, as a loader caps it. */
    private static final int MAX_SECTION = 1 << 20;

    @FuzzTest(maxDuration = "5s")
    void parsesStrictJson(byte[] text) {
        UntrustedInput.parse(JsonParseException.class, () -> JsonParser.parse(text, JsonParser.Syntax.STRICT));
    }

    /** Input: a be16 length, that many bytes of vmdescription JSON, then the section body it describes. */
    @FuzzTest(maxDuration = "5s")
    void walksSectionsByTheirDescription(byte[] input) {
        int n = input.length < 2 ? 0 : Math.min(input.length - 2, (input[0] & 0xff) << 8 | input[1] & 0xff);
        String json = new String(input, Math.min(2, input.length), n, StandardCharsets.UTF_8);
        byte[] body = Arrays.copyOfRange(input, Math.min(input.length, 2 + n), input.length);
        UntrustedInput.parse(MigrationException.class, () -> {
            for (Json.Obj device : DescribedDevices.fromJson(json).byKey().values()) {
                DescribedSection.read(StreamReader.of(body), device, MAX_SECTION);
            }
        });
    }

    @Test
    void corpusHoldsTheSeeds() throws Exception {
        var trailers = new LinkedHashMap<String, byte[]>();
        trailers.put("livemig-trailer", livemigTrailer().getBytes(StandardCharsets.UTF_8));
        trailers.put("qemu-7.2-pc-trailer", qemuTrailer().getBytes(StandardCharsets.UTF_8));
        SeedCorpus.check(VmDescriptionFuzzTest.class, "parsesStrictJson", trailers);
        SeedCorpus.check(VmDescriptionFuzzTest.class, "walksSectionsByTheirDescription", DestinationGuest.describedSections());
    }

    @Test
    void theTimerSeedWalksToItsEnd() throws Exception {
        byte[] seed = DestinationGuest.describedSections().get("timer");
        int n = (seed[0] & 0xff) << 8 | seed[1] & 0xff;
        var devices = DescribedDevices.fromJson(new String(seed, 2, n, StandardCharsets.UTF_8));
        byte[] body = Arrays.copyOfRange(seed, 2 + n, seed.length);
        assertArrayEqualsWalked(body, DescribedSection.read(StreamReader.of(body), devices.byKey().values().iterator().next(), MAX_SECTION));
    }

    private static void assertArrayEqualsWalked(byte[] body, byte[] walked) {
        org.junit.jupiter.api.Assertions.assertArrayEquals(body, walked, "the description walks the whole body");
    }

    /** The trailer of a livemig stream of {@link DestinationGuest}, as the destination reads it. */
    static String livemigTrailer() throws MigrationException {
        try (var source = new DestinationGuest().fill(); var destination = new DestinationGuest()) {
            return new String(destination.load(source.save()).vmDescription(), StandardCharsets.US_ASCII);
        }
    }

    /** The first devices of a QEMU 7.2 stream's trailer: page_size and a few device descriptions, compact. */
    static String qemuTrailer() throws JsonParseException {
        Json.Obj desc = JsonParser.parse(new String(SeedCorpus.gzippedResource("/analyze/pc.desc.json.gz"), StandardCharsets.UTF_8)).asObject();
        List<Json> devices = desc.array("devices");
        return JsonWriter.compact(Json.object().put("page_size", desc.number("page_size"))
                .put("devices", new Json.Arr(devices.subList(0, Math.min(6, devices.size())))).build());
    }
}
