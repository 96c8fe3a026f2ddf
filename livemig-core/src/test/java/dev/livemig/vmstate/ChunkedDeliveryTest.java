package dev.livemig.vmstate;

import dev.livemig.json.Json;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.ChunkedChannel;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;

import java.io.ByteArrayInputStream;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Loading through a channel that delivers one byte per read, or random chunks, gives the same result. */
class ChunkedDeliveryTest {
    private static final int SMALLEST_BUFFER = 512;

    private static Device load(ReadableByteChannel channel, int length) throws MigrationException {
        var r = new StreamReader(channel, SMALLEST_BUFFER);
        var d = new Device();
        VmStateCodec.load(r, Device.VMSD, d, Device.VMSD.versionId());
        assertEquals(length, r.offset());
        return d;
    }

    @Property(tries = 200)
    void loadingOneByteAtATimeOrInRandomChunksGivesTheSameDevice(@ForAll long seed) throws MigrationException {
        var w = StreamWriter.inMemory();
        VmStateCodec.save(w, Device.VMSD, Device.random(seed));
        byte[] bytes = w.toByteArray();
        String whole = load(Channels.newChannel(new ByteArrayInputStream(bytes)), bytes.length).state();
        assertEquals(whole, load(ChunkedChannel.oneByteAtATime(bytes), bytes.length).state());
        assertEquals(whole, load(ChunkedChannel.randomChunks(bytes, seed), bytes.length).state());
        assertEquals(Device.random(seed).state(), whole);
    }

    @Property(tries = 200)
    void describedSectionReadsTheSameBytesWhateverTheChunking(@ForAll long seed) throws MigrationException {
        var w = StreamWriter.inMemory();
        Json.Obj json = VmStateCodec.save(w, Device.VMSD, Device.random(seed));
        byte[] bytes = w.toByteArray();
        assertArrayEquals(bytes, DescribedSection.read(new StreamReader(ChunkedChannel.oneByteAtATime(bytes), SMALLEST_BUFFER), json, 4096));
        assertArrayEquals(bytes, DescribedSection.read(new StreamReader(ChunkedChannel.randomChunks(bytes, seed), SMALLEST_BUFFER), json, 4096));
    }
}
