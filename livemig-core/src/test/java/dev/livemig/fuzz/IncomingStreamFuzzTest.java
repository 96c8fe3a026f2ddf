package dev.livemig.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.livemig.savevm.Snapshots;
import dev.livemig.wire.format.MigrationCommand;
import dev.livemig.wire.format.MigrationCommands;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamWriter;
import dev.livemig.wire.format.WireFormat;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole destination path on untrusted bytes: header, configuration, every record kind, commands, the RAM
 * loader's page records, VMState devices, a live handler, footers and the vmdescription trailer. Property:
 * {@link UntrustedInput}, with {@link MigrationException} the only documented failure. Seeds: streams that
 * livemig writes for {@link DestinationGuest}, one with return-path commands, one with a device only its
 * trailer describes, and the head of a QEMU 7.2 stream.
 */
class IncomingStreamFuzzTest {
    /** As a live migration's destination reads it: from a channel, without a trailer read ahead. */
    @FuzzTest(maxDuration = "5s")
    void loadsAnIncomingStream(byte[] stream) {
        UntrustedInput.parse(MigrationException.class, () -> {
            try (var guest = new DestinationGuest()) {
                guest.load(stream);
            }
        });
    }

    /**
     * As a snapshot file is loaded: its trailer is found and read ahead, so FULL sections of devices the
     * machine lacks are walked by their description and carried on.
     */
    @FuzzTest(maxDuration = "5s")
    void loadsASnapshotFile(byte[] stream) throws IOException {
        Path file = SNAPSHOT.holding(stream);
        UntrustedInput.parse(MigrationException.class, () -> {
            try (var guest = new DestinationGuest()) {
                Snapshots.load(guest.machine, file);
            }
        });
    }

    private static final dev.livemig.testing.ScratchFile SNAPSHOT = new dev.livemig.testing.ScratchFile(".snap");

    @Test
    void corpusHoldsTheSeeds() throws Exception {
        Map<String, byte[]> seeds = seeds();
        SeedCorpus.check(IncomingStreamFuzzTest.class, "loadsAnIncomingStream", seeds);
        SeedCorpus.check(IncomingStreamFuzzTest.class, "loadsASnapshotFile", seeds);
    }

    @Test
    void theLivemigSeedsLoad() throws Exception {
        // a seed that fails early would leave the deeper code unseeded
        for (String name : new String[] {"empty-guest", "full-guest", "return-path-commands"}) {
            try (var guest = new DestinationGuest()) {
                guest.load(seeds().get(name));
            }
        }
        Path file = Files.createTempFile("livemig-fuzz-", ".snap");
        try (var guest = new DestinationGuest()) {
            Files.write(file, seeds().get("described-only-device"));
            Snapshots.load(guest.machine, file);
            assertTrue(guest.machine.devices().find("extra-timer", 0).isPresent(), "the described device is carried on");
        } finally {
            Files.delete(file);
        }
    }

    static Map<String, byte[]> seeds() throws MigrationException {
        var seeds = new LinkedHashMap<String, byte[]>();
        try (var empty = new DestinationGuest(); var full = new DestinationGuest().fill()) {
            seeds.put("empty-guest", empty.save());
            byte[] stream = full.save();
            seeds.put("full-guest", stream);
            seeds.put("return-path-commands", withCommands(stream));
        }
        try (var more = new DestinationGuest().fill()) {
            var extra = new DestinationGuest.Timer();
            extra.ticks = 99;
            more.machine.devices().register("extra-timer", 0, DestinationGuest.Timer.VMSD, extra);
            seeds.put("described-only-device", more.save());
        }
        seeds.put("qemu-7.2-pc-head", SeedCorpus.gzippedResourceHead("/analyze/pc.snap.gz", 16 << 10));
        return seeds;
    }

    /** {@code stream} with OPEN_RETURN_PATH and PING inserted before its first section (after the configuration). */
    private static byte[] withCommands(byte[] stream) throws MigrationException {
        int first = 8; // magic and version
        while (stream[first] != WireFormat.SECTION_START) {
            first++;
        }
        var commands = StreamWriter.inMemory();
        MigrationCommands.write(commands, new MigrationCommand.OpenReturnPath());
        MigrationCommands.write(commands, new MigrationCommand.Ping(7));
        return SeedCorpus.concat(SeedCorpus.concat(Arrays.copyOf(stream, first), commands.toByteArray()),
                Arrays.copyOfRange(stream, first, stream.length));
    }
}
