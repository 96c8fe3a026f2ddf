package dev.livemig.migration;

import dev.livemig.analyze.StreamDump;
import dev.livemig.json.Json;
import dev.livemig.testing.Await;
import dev.livemig.transport.MigrationUri;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * livemig analyze on the streams analyze-migration.py cannot read: a running guest migrated into a file with
 * XBZRLE or legacy compression, page after page rewritten over several passes. Extracting the file must give
 * exactly the source's final RAM, and the stats must see the encoded pages.
 */
class AnalyzeLiveStreamTest {
    private final LiveGuests guests = new LiveGuests(16L << 20);

    @TempDir
    Path dir;

    @AfterEach
    void release() throws Exception {
        guests.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {"xbzrle", "compress"})
    void everyEncodedPageOfALiveStreamIsApplied(String capability) throws Exception {
        var source = guests.guest(20_000); // rewrites pages faster than 16 MiB/s moves them
        source.start();
        var config = new MigrationConfig(MigrationCapability.setOf(capability), 300, 16L << 20)
                .withParameter("xbzrle-cache-size", Long.toString(4L << 20));
        Path stream = dir.resolve("live.stream");
        var m = new Migration(source.machine, config, e -> { });
        m.start(MigrationUri.parse("file:" + stream));
        // a page is encoded only when sent again (XBZRLE: a third time, once it is in the cache): wait for the
        // source to have sent some that way rather than for a number of passes a loaded host may not fill
        Await.until("pages sent " + capability + "-encoded", () -> {
            MigrationInfo info = m.info();
            assertFalse(info.status().isFinal(), info.toJson().toString());
            return capability.equals("xbzrle") ? info.xbzrle() != null && info.xbzrle().pages() > 0
                    : info.compression() != null && info.compression().pages() > 0;
        }, () -> m.info().toJson());
        source.dirtyRate(0);
        assertEquals(MigrationStatus.COMPLETED, m.awaitFinished(60, TimeUnit.SECONDS), m.info().toJson().toString());

        Path out = Files.createDirectories(dir.resolve("x"));
        StreamDump.extract(stream, out, name -> { });
        byte[] ram = Files.readAllBytes(out.resolve("ram"));
        assertEquals(-1, source.ram.memory().mismatch(MemorySegment.ofArray(ram)), "the extracted RAM is the source's final RAM");

        Json.Obj dump = StreamDump.state(stream, true);
        Json.Obj memory = dump.members().stream().filter(member -> member.name().startsWith("ram ("))
                .findFirst().orElseThrow().value().asObject().get("memory").orElseThrow().asObject();
        assertEquals(ram.length / 4096, memory.members().size(), "one entry per page");
        for (Json.Member page : memory.members()) { // the last record of each page: its final content
            long addr = Long.decode(page.name().substring("ram (".length(), page.name().length() - 1));
            byte[] expected = java.util.Arrays.copyOfRange(ram, (int) addr, (int) addr + 4096);
            String text = page.value().asString();
            if (text.startsWith("Filled with 0x")) {
                byte[] filled = new byte[4096];
                java.util.Arrays.fill(filled, (byte) Integer.parseInt(text.substring(14), 16));
                assertArrayEquals(filled, expected, page.name());
            } else {
                assertEquals(java.util.HexFormat.ofDelimiter(" ").formatHex(expected), text, page.name());
            }
        }

        Json.Obj stats = StreamDump.stats(stream).get("ram").orElseThrow().asObject().get("ram").orElseThrow().asObject();
        String kind = capability.equals("xbzrle") ? "xbzrle" : "compressed";
        assertTrue(stats.number(kind + "-pages") > 0, stats.toString());
        assertTrue(stats.number(kind + "-bytes") < stats.number(kind + "-pages") * 4096, "encoded pages are smaller: " + stats);
    }
}
