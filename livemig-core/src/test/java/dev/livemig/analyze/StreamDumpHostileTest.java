package dev.livemig.analyze;

import dev.livemig.json.Json;
import dev.livemig.machine.LiveStateHandler;
import dev.livemig.machine.Machine;
import dev.livemig.savevm.RamCeiling;
import dev.livemig.savevm.Snapshots;
import dev.livemig.testing.CraftedStreams;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.CRC32C;
import java.util.zip.GZIPInputStream;

import static org.junit.jupiter.api.Assertions.*;

/** analyze on streams that lie: about their RAM, their trailer, their idstrs; and on live sections no trailer describes. */
class StreamDumpHostileTest {
    @TempDir
    Path dir;

    private static byte[] qemuStream() throws Exception {
        try (InputStream in = StreamDumpHostileTest.class.getResourceAsStream("/analyze/pc.snap.gz")) {
            assertNotNull(in);
            return new GZIPInputStream(in).readAllBytes();
        }
    }

    private Path file(byte[] stream) throws Exception {
        return Files.write(dir.resolve("stream.snap"), stream);
    }

    @Test
    void aVmdescriptionLengthFieldThatIsWrongIsAVerdictNotOk() throws Exception {
        byte[] good = qemuStream();
        int at = CraftedStreams.trailerAt(good);
        long length = good.length - at - 5L;
        StreamDump.state(file(good), false); // the untouched stream reads
        for (long wrong : List.of(length - 1, length + 1, 1L, 0xffff_ffffL)) {
            var e = assertThrows(MigrationException.class, () -> StreamDump.state(file(CraftedStreams.withVmDescriptionLength(good, wrong)), false),
                    "length " + wrong);
            assertEquals("vmdescription", e.section(), e.getMessage());
            assertEquals(at + 1, e.offset(), "the length field: " + e.getMessage());
            assertTrue(e.getMessage().startsWith(wrong > 64 << 20 ? "vmdescription length out of range: length=" + wrong
                    : "vmdescription length field says " + wrong + " bytes, the stream has " + length + " after it"), e.getMessage());
        }
    }

    @Test
    void aJsonErrorInTheTrailerNamesItsExactOffset() throws Exception {
        byte[] bad = qemuStream();
        int json = CraftedStreams.trailerAt(bad) + 5;
        String text = new String(bad, json, bad.length - json, StandardCharsets.ISO_8859_1);
        int comma = text.indexOf(',', 100);
        bad[json + comma] = ';';
        var e = assertThrows(MigrationException.class, () -> StreamDump.description(file(bad)));
        assertEquals(json + comma, e.offset(), e.getMessage());
        assertTrue(e.getMessage().startsWith("the vmdescription is not JSON: "), e.getMessage());
        var state = assertThrows(MigrationException.class, () -> StreamDump.state(file(bad), false));
        assertEquals(json + comma, state.offset(), state.getMessage());
    }

    @Test
    void aTrailerWithoutADevicesArrayIsRefused() throws Exception {
        byte[] bad = qemuStream();
        int json = CraftedStreams.trailerAt(bad) + 5;
        String text = new String(bad, json, bad.length - json, StandardCharsets.ISO_8859_1);
        int devices = text.indexOf("\"devices\"");
        bad[json + devices + 7] = 'z';
        var e = assertThrows(MigrationException.class, () -> StreamDump.state(file(bad), false));
        assertEquals("the vmdescription has no devices array (section=vmdescription offset=0x" + Integer.toHexString(json) + ")",
                e.getMessage());
    }

    /** A live handler like the demo's slowdev: tagged bodies of its own format, in START, PART and END sections. */
    private static final class TaggedHandler implements LiveStateHandler {
        byte[] body = new byte[0];

        @Override
        public void saveSetup(StreamWriter out) throws MigrationException {
            out.u8(1).be32(0x534c4f57);
        }

        @Override
        public boolean saveIterate(StreamWriter out, long budgetBytes) throws MigrationException {
            out.u8(0);
            return true;
        }

        @Override
        public void saveCompletePrecopy(StreamWriter out) throws MigrationException {
            out.u8(2).bytes(body);
        }

        @Override
        public Pending pendingEstimate() {
            return Pending.NONE;
        }

        @Override
        public void loadState(StreamReader in, int versionId) throws MigrationException {
            throw in.error("not loaded in this test");
        }
    }

    @Test
    void aLiveHandlersSectionsAreShownWithTheirSizePartsAndChecksum() throws Exception {
        Path file = dir.resolve("live.snap");
        var handler = new TaggedHandler();
        byte[] body;
        int id;
        try (Machine m = Machine.builder("livemig-test").ram("pc.ram", 4 * 4096).build()) {
            id = m.devices().registerLive("tagged", 0, 1, handler).sectionId();
            // footer-like runs (0x7e and the section id) followed by what cannot come next: a byte no record starts
            // with, a PART of a section that never started
            body = new byte[] {0x7e, 0, 0, 0, (byte) id, (byte) 0xee, 0x7e, 0, 0, 0, (byte) id, 0x03, 0, 0, 0, 99, 9};
            handler.body = body;
            m.pause();
            Snapshots.save(m, file);
        }
        Json.Obj state = StreamDump.state(file, false);
        String key = "tagged (" + id + ")";
        Json.Obj tagged = state.get(key).orElseThrow(() -> new AssertionError(state.toString())).asObject();
        var crc = new CRC32C();
        crc.update(new byte[] {1, 0x53, 0x4c, 0x4f, 0x57});
        long bytes = 5;
        long parts = 1 + tagged.number("parts") - 2; // setup, iterations, completion
        for (int i = 0; i < parts - 1; i++) {
            crc.update(0);
            bytes++;
        }
        crc.update(2);
        crc.update(body);
        bytes += 1 + body.length;
        assertEquals(bytes, tagged.number("bytes"), tagged.toString());
        assertEquals(String.format("0x%08x", crc.getValue()), tagged.string("crc32c"), tagged.toString());
        assertTrue(tagged.string("undecoded").startsWith("a live section"), tagged.toString());
        assertTrue(StreamDump.stats(file).get("sections").orElseThrow().asObject().get(key).isPresent());
    }

    @Test
    void anIdstrFullOfEscapesIsEscapedInAnErrorAndInTheDump() throws Exception {
        byte[] stream = CraftedStreams.deviceSectionNamed(CraftedStreams.ESCAPE_IDSTR);
        Json.Obj state = StreamDump.state(file(stream), false);
        assertTrue(state.get(CraftedStreams.ESCAPE_IDSTR + " (3)").isPresent(), "the dump is JSON, escaped by its writer");
        byte[] noFooter = java.util.Arrays.copyOf(stream, stream.length - 6); // body kept, footer and EOF gone
        var e = assertThrows(MigrationException.class, () -> StreamDump.state(file(noFooter), false));
        assertTrue(e.getMessage().startsWith("the stream ends inside undescribed section \\x1b[2J\\x1b[31mdev\\x0averified: ok\\x9b0m\\xff (3)"),
                e.getMessage());
        assertTrue(e.getMessage().chars().allMatch(c -> c >= 0x20 && c < 0x7f), e.getMessage());
    }

    @Test
    void aTebibyteBlockIsRefusedAndNoBlockFileIsCreated() throws Exception {
        Path stream = file(CraftedStreams.ramDeclaring("pc.ram", CraftedStreams.TIB));
        var ceiling = new RamCeiling(1L << 30);
        var e = assertThrows(MigrationException.class, () -> StreamDump.state(stream, false, List.of(), ceiling));
        assertTrue(e.getMessage().startsWith("stream declares more RAM than the ceiling: block=pc.ram declared=1099511627776"), e.getMessage());
        Path into = Files.createDirectories(dir.resolve("x"));
        var statsError = assertThrows(MigrationException.class, () -> StreamDump.stats(stream, List.of(), ceiling));
        assertEquals(e.getMessage(), statsError.getMessage());
        // a crafted stream has no trailer: extraction stops at desc.json, so the block list is met through state
        assertThrows(MigrationException.class, () -> StreamDump.extractRam(stream, into, n -> { }));
        assertFalse(Files.exists(into.resolve("pc.ram")), "no 1 TiB sparse file");
        var eib = assertThrows(MigrationException.class,
                () -> StreamDump.state(file(CraftedStreams.ramDeclaring("pc.ram", CraftedStreams.FOUR_EIB)), true));
        assertTrue(eib.getMessage().contains("(4.0 EiB)"), eib.getMessage());
    }
}
