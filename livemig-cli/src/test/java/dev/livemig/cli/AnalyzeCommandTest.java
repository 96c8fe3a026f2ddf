package dev.livemig.cli;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;

import static org.junit.jupiter.api.Assertions.*;

/** `livemig analyze` on QEMU 7.2 streams (the goldens of livemig-core's StreamDumpGoldenTest). */
class AnalyzeCommandTest {
    @TempDir
    Path dir;

    private static byte[] resource(String name) throws IOException {
        try (InputStream in = AnalyzeCommandTest.class.getResourceAsStream("/analyze/" + name)) {
            assertNotNull(in, name);
            return new GZIPInputStream(in).readAllBytes();
        }
    }

    private Path stream(String machine) throws IOException {
        Path p = dir.resolve(machine + ".snap");
        Files.write(p, resource(machine + ".snap.gz"));
        return p;
    }

    @Test
    void printsTheScriptsStateDump() throws Exception {
        var run = CliRun.of("analyze", "-f", stream("pc").toString());
        assertEquals(0, run.status(), run.err());
        assertEquals(JsonParser.parse(new String(resource("pc.state.json.gz"), StandardCharsets.UTF_8)), JsonParser.parse(run.out()));
        var desc = CliRun.of("analyze", "-f", stream("q35").toString(), "-d", "desc");
        assertEquals(JsonParser.parse(new String(resource("q35.desc.json.gz"), StandardCharsets.UTF_8)), JsonParser.parse(desc.out()));
    }

    @Test
    void statsAccountForEveryPageOfEveryBlock() throws Exception {
        var run = CliRun.of("analyze", "-f", stream("pc").toString(), "--stats");
        assertEquals(0, run.status(), run.err());
        Json.Obj stats = JsonParser.parse(run.out()).asObject();
        Json.Obj ram = stats.get("ram").orElseThrow().asObject();
        Json.Obj pcRam = ram.get("pc.ram").orElseThrow().asObject();
        assertEquals(16 << 20 >> 12, pcRam.number("zero-pages") + pcRam.number("normal-pages"), "one record per page of 16 MiB");
        assertEquals(16, pcRam.number("normal-pages"), "the 64 KiB image");
        assertEquals(16 * (8 + 4096), pcRam.number("normal-bytes"), "each a CONTINUE record: its word and 4096 bytes");
        long sections = stats.get("sections").orElseThrow().asObject().members().stream()
                .mapToLong(m -> Long.parseLong(((Json.Num) m.value()).text())).sum();
        assertTrue(sections < stats.number("stream-bytes") && sections > stats.number("stream-bytes") / 2, run.out());
    }

    /** A CPR state (QEMU's cpr channel, captured): its descriptors by name and id; a cut one is refused at its offset. */
    @Test
    void readsACprStateAndItsNamedDescriptors() throws Exception {
        var bytes = new java.io.ByteArrayOutputStream();
        bytes.writeBytes(java.nio.ByteBuffer.allocate(8).putInt(0x51435052).putInt(1).array());
        for (String name : new String[]{"pc.ram", "pc.bios"}) {
            byte[] n = (name + "\0").getBytes(StandardCharsets.UTF_8);
            bytes.write(1);
            bytes.writeBytes(java.nio.ByteBuffer.allocate(4).putInt(n.length).array());
            bytes.writeBytes(n);
            bytes.writeBytes(java.nio.ByteBuffer.allocate(4).putInt(0).array());
            bytes.write(' ');
        }
        bytes.write(0);
        Path state = Files.write(dir.resolve("cpr.state"), bytes.toByteArray());
        var run = CliRun.of("analyze", "-f", state.toString());
        assertEquals(0, run.status(), run.err());
        Json.Obj dump = JsonParser.parse(run.out()).asObject();
        assertEquals("QCPR", dump.string("magic"));
        assertEquals(java.util.List.of("pc.ram", "pc.bios"), dump.get("fds").orElseThrow().asArray().stream()
                .map(f -> f.asObject().string("name")).toList());
        Path cut = Files.write(dir.resolve("cut.state"), java.util.Arrays.copyOf(bytes.toByteArray(), 20));
        var verify = CliRun.of("analyze", "-f", cut.toString(), "--verify");
        assertEquals(1, verify.status(), verify.out());
        Json.Obj verdict = JsonParser.parse(verify.out()).asObject();
        assertEquals("malformed", verdict.string("verdict"));
        assertTrue(verdict.string("error").contains("section=cpr state"), verdict.toString());
        var memory = CliRun.of("analyze", "-f", state.toString(), "-m");
        assertNotEquals(0, memory.status());
        assertTrue(memory.err().contains("is a CPR state (QCPR)"), memory.err());
    }

    @Test
    void verifyGivesAVerdictAndAnExitStatus() throws Exception {
        var ok = CliRun.of("analyze", "-f", stream("pc").toString(), "--verify");
        assertEquals(0, ok.status());
        assertEquals("ok", JsonParser.parse(ok.out()).asObject().string("verdict"));
        byte[] b = Files.readAllBytes(stream("pc"));
        int word = findPageRecord(b) - 8;
        b[word + 7] = 0x2a; // ZERO|PAGE|CONTINUE: a record no saver writes
        Path bad = dir.resolve("bad.snap");
        Files.write(bad, b);
        var verdict = CliRun.of("analyze", "-f", bad.toString(), "--verify");
        assertEquals(1, verdict.status(), verdict.out());
        Json.Obj v = JsonParser.parse(verdict.out()).asObject();
        assertEquals("malformed", v.string("verdict"));
        assertTrue(v.string("error").contains("offset="), v.string("error"));
    }

    @Test
    void diffNamesTheFieldsThatDifferAndNoPageWhenRamIsEqual() throws Exception {
        Path a = stream("pc");
        var same = CliRun.of("analyze", "diff", a.toString(), a.toString());
        assertEquals(0, same.status(), same.out());
        byte[] c = Files.readAllBytes(a);
        Path changed = dir.resolve("changed.snap");
        int page = findPageRecord(c);
        c[page + 100] ^= 1;
        Files.write(changed, c);
        var diff = CliRun.of("analyze", "diff", a.toString(), changed.toString());
        assertEquals(1, diff.status(), diff.out() + diff.err());
        Json.Obj d = JsonParser.parse(diff.out()).asObject();
        assertEquals(new Json.Bool(false), d.get("identical").orElseThrow());
        long differing = d.get("ram").orElseThrow().asObject().members().stream()
                .mapToLong(m -> ((Json.Obj) m.value()).number("differing-pages")).sum();
        assertEquals(1, differing, diff.out());
    }

    /** As argparse does for the script: the missing option named first, then the usage; exit status 2. */
    @Test
    void withoutAFileTheMissingOptionIsNamed() {
        var run = CliRun.of("analyze", "-d", "state");
        assertEquals(2, run.status());
        assertTrue(run.err().startsWith("the following arguments are required: -f/--file\nUsage: livemig analyze"), run.err());
        assertEquals("", run.out());
    }

    /** The data of the PAGE record for pc.ram at 1 MiB (CONTINUE: no block name follows the word). */
    private static int findPageRecord(byte[] b) {
        byte[] word = {0, 0, 0, 0, 0, 0x10, 0, 0x28}; // offset 0x100000 | CONTINUE | PAGE
        int at = indexOf(b, word, 0);
        assertTrue(at > 0, "the page at 1 MiB");
        return at + 8;
    }

    private static int indexOf(byte[] b, byte[] what, int from) {
        outer:
        for (int i = from; i <= b.length - what.length; i++) {
            for (int j = 0; j < what.length; j++) {
                if (b[i + j] != what[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    @Test
    void readsEveryStreamTheDemoGuestWritesLiveSectionsIncluded() throws Exception {
        Path file = dir.resolve("demo.snap");
        try (var guest = new dev.livemig.cli.guest.DemoGuest(1 << 20, 0)) {
            guest.fillHalf(1);
            guest.machine().pause();
            dev.livemig.savevm.Snapshots.save(guest.machine(), file);
        }
        var run = CliRun.of("analyze", "-f", file.toString());
        assertEquals(0, run.status(), run.err());
        Json.Obj state = JsonParser.parse(run.out()).asObject();
        Json.Obj slowdev = state.members().stream().filter(m -> m.name().startsWith("slowdev ("))
                .map(m -> m.value().asObject()).findFirst().orElseThrow(() -> new AssertionError(run.out()));
        assertTrue(slowdev.number("bytes") > 0 && slowdev.number("parts") >= 2, slowdev.toString());
        assertTrue(slowdev.string("crc32c").matches("0x[0-9a-f]{8}"), slowdev.toString());
        for (String device : java.util.List.of("console (", "counter (", "cpu (")) {
            assertTrue(state.members().stream().anyMatch(m -> m.name().startsWith(device) && !m.value().asObject().has("undecoded")),
                    device + " decoded by its description: " + run.out());
        }
        assertEquals(0, CliRun.of("analyze", "-f", file.toString(), "--verify").status());
        assertEquals(0, CliRun.of("analyze", "-f", file.toString(), "--stats").status());
    }

    @Test
    void readsTheStreamOfALiveMigrationOfTheRunningDemoGuest() throws Exception {
        Path file = dir.resolve("demo-live.mig");
        try (var guest = new dev.livemig.cli.guest.DemoGuest(1 << 20, 4 << 20)) {
            guest.fillHalf(1);
            guest.machine().resume();
            var info = SourceRun.migrate(guest.machine(), dev.livemig.migration.MigrationConfig.defaults(),
                    dev.livemig.transport.MigrationUri.parse("file:" + file), true);
            assertEquals(dev.livemig.migration.MigrationStatus.COMPLETED, info.status(), info.errorDesc());
        }
        var verdict = CliRun.of("analyze", "-f", file.toString(), "--verify");
        assertEquals(0, verdict.status(), verdict.out());
        var run = CliRun.of("analyze", "-f", file.toString());
        assertEquals(0, run.status(), run.err());
        Json.Obj state = JsonParser.parse(run.out()).asObject();
        assertTrue(state.members().stream().anyMatch(m -> m.name().startsWith("slowdev (")
                && m.value().asObject().number("parts") >= 2), run.out());
    }

    @Test
    void verifyNoticesAVmdescriptionLengthFieldThatIsWrong() throws Exception {
        byte[] b = dev.livemig.testing.CraftedStreams.withVmDescriptionLength(Files.readAllBytes(stream("pc")), 100);
        Path bad = Files.write(dir.resolve("len.snap"), b);
        var verdict = CliRun.of("analyze", "-f", bad.toString(), "--verify");
        assertEquals(1, verdict.status(), verdict.out());
        Json.Obj v = JsonParser.parse(verdict.out()).asObject();
        assertTrue(v.string("error").startsWith("vmdescription length field says 100 bytes, the stream has "), v.string("error"));
    }

    @Test
    void maxRamRefusesAStreamDeclaringMore() throws Exception {
        Path big = Files.write(dir.resolve("big.snap"),
                dev.livemig.testing.CraftedStreams.ramDeclaring("pc.ram", dev.livemig.testing.CraftedStreams.TIB));
        String err = CliRun.of("analyze", "-f", big.toString(), "--max-ram", "1G").oneLineError();
        assertTrue(err.startsWith("livemig: stream declares more RAM than the ceiling: block=pc.ram declared=1099511627776"), err);
        assertTrue(err.contains("ceiling=1073741824"), err);
        assertEquals(0, CliRun.of("analyze", "-f", big.toString(), "--max-ram", "2T").status(), "within a raised ceiling");
    }

    @Test
    void noRawEscapeFromAStreamReachesTheTerminal() throws Exception {
        byte[] stream = dev.livemig.testing.CraftedStreams.deviceSectionNamed(dev.livemig.testing.CraftedStreams.ESCAPE_IDSTR);
        Path named = Files.write(dir.resolve("esc.snap"), stream);
        Path cut = Files.write(dir.resolve("cut.snap"), java.util.Arrays.copyOf(stream, stream.length - 6));
        for (CliRun run : java.util.List.of(CliRun.of("analyze", "-f", named.toString()), CliRun.of("analyze", "-f", cut.toString()),
                CliRun.of("analyze", "-f", cut.toString(), "--verify"), CliRun.of("analyze", "-f", named.toString(), "--stats"))) {
            String printed = run.out() + run.err();
            assertTrue(printed.chars().allMatch(c -> c == '\n' || (c >= 0x20 && c < 0x7f)), "only printable ASCII: " + run);
        }
        String err = CliRun.of("analyze", "-f", cut.toString()).oneLineError();
        assertTrue(err.contains("undescribed section \\x1b[2J\\x1b[31mdev\\x0averified: ok\\x9b0m\\xff (3)"), err);
    }

    @Test
    void aMissingStreamIsNamedWithTheReason() {
        Path missing = dir.resolve("missing.snap");
        assertEquals("livemig: cannot read " + missing + ": no such file or directory",
                CliRun.of("analyze", "-f", missing.toString()).oneLineError());
    }
}
