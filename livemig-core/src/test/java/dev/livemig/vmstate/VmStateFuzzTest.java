package dev.livemig.vmstate;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.livemig.fuzz.SeedCorpus;
import dev.livemig.fuzz.UntrustedInput;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The VMState loader on one described device ({@link Device}: versions 2..4, a field since 3, variable
 * array and buffer sized by earlier fields, a struct, a struct array with subsections, nested subsections),
 * at any version id a section header can carry. Input: the version id as a signed byte, then the body.
 * Seeds: random devices as the saver writes them, at version 4.
 */
class VmStateFuzzTest {
    @FuzzTest(maxDuration = "5s")
    void loadsADescribedDevice(byte[] input) {
        int version = input.length == 0 ? Device.VMSD.versionId() : input[0];
        byte[] body = input.length == 0 ? input : Arrays.copyOfRange(input, 1, input.length);
        UntrustedInput.parse(MigrationException.class,
                () -> VmStateCodec.load(StreamReader.of(body), Device.VMSD, new Device(), version));
    }

    @Test
    void corpusHoldsTheSeeds() throws Exception {
        var seeds = new LinkedHashMap<String, byte[]>();
        for (long seed : new long[] {1, 2, 3}) {
            var out = StreamWriter.inMemory().u8(Device.VMSD.versionId());
            VmStateCodec.save(out, Device.VMSD, Device.random(seed));
            seeds.put("device-" + seed, out.toByteArray());
        }
        SeedCorpus.check(VmStateFuzzTest.class, "loadsADescribedDevice", seeds);
    }
}
