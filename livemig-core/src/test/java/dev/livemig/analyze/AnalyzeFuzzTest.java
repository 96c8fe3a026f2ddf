package dev.livemig.analyze;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.livemig.fuzz.DestinationGuest;
import dev.livemig.fuzz.SeedCorpus;
import dev.livemig.fuzz.UntrustedInput;
import dev.livemig.json.Json;
import dev.livemig.json.JsonParseException;
import dev.livemig.json.JsonParser;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import org.junit.jupiter.api.Test;

/**
 * analyze on a stream file it did not write: the trailer found from the end of the file, every section
 * walked through its description or skipped to its footer, RAM records dumped page by page (the script's
 * {@code -m}) and counted (stats). Seeds: livemig streams with trailers, the head of QEMU 7.2 pc and q35
 * streams.
 */
class AnalyzeFuzzTest {
    @FuzzTest(maxDuration = "5s")
    void dumpsAStreamFile(byte[] stream) throws IOException {
        Path file = STREAM.holding(stream);
        UntrustedInput.parse(MigrationException.class, () -> StreamDump.state(file, true, java.util.List.of(), CEILING));
        UntrustedInput.parse(MigrationException.class, () -> StreamDump.stats(file, java.util.List.of(), CEILING));
    }

    /** The host's, asked once: asking reads cgroup files, which cost more than most inputs' parse. */
    private static final dev.livemig.savevm.RamCeiling CEILING = dev.livemig.savevm.RamCeiling.host();

    private static final dev.livemig.testing.ScratchFile STREAM = new dev.livemig.testing.ScratchFile(".stream");

    /**
     * analyze's own walker of described sections ({@link VmsdDump}), without the file around it. Input as
     * VmDescriptionFuzzTest's: a be16 length, that many bytes of vmdescription JSON, then the section body.
     */
    @FuzzTest(maxDuration = "5s")
    void dumpsSectionsByTheirDescription(byte[] input) {
        int n = input.length < 2 ? 0 : Math.min(input.length - 2, (input[0] & 0xff) << 8 | input[1] & 0xff);
        byte[] json = Arrays.copyOfRange(input, Math.min(2, input.length), Math.min(2, input.length) + n);
        byte[] body = Arrays.copyOfRange(input, Math.min(input.length, 2 + n), input.length);
        Json description;
        try {
            description = JsonParser.parse(json, JsonParser.Syntax.STRICT);
        } catch (JsonParseException e) {
            return; // the JSON parser is a target of its own
        }
        if (description instanceof Json.Obj trailer && trailer.get("devices").orElse(null) instanceof Json.Arr(var devices)) {
            for (Json device : devices) {
                if (device instanceof Json.Obj d) {
                    UntrustedInput.parse(MigrationException.class, () -> VmsdDump.read(StreamReader.of(body), d));
                }
            }
        }
    }

    @Test
    void corpusHoldsTheSeeds() throws Exception {
        SeedCorpus.check(AnalyzeFuzzTest.class, "dumpsSectionsByTheirDescription", DestinationGuest.describedSections());
        var seeds = new LinkedHashMap<String, byte[]>();
        try (var empty = new DestinationGuest(); var full = new DestinationGuest().fill()) {
            seeds.put("livemig-empty", empty.save());
            seeds.put("livemig-full", full.save());
        }
        seeds.put("qemu-7.2-pc-head", SeedCorpus.gzippedResourceHead("/analyze/pc.snap.gz", 16 << 10));
        seeds.put("qemu-7.2-q35-head", SeedCorpus.gzippedResourceHead("/analyze/q35.snap.gz", 16 << 10));
        SeedCorpus.check(AnalyzeFuzzTest.class, "dumpsAStreamFile", seeds);
    }
}
