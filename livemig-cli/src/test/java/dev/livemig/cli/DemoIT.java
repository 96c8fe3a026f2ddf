package dev.livemig.cli;

import dev.livemig.cli.guest.SlowLoadDevice;
import dev.livemig.json.Json;
import dev.livemig.json.JsonParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * `livemig demo --json` run as a user runs it: the shaded jar, a running guest migrated live to a second JVM
 * process over each transport, verified there byte for byte.
 */
class DemoIT {
    static Json.Obj demo(String... extra) throws Exception {
        Path jar = Path.of("target", "livemig.jar");
        assertTrue(Files.exists(jar), "the shaded jar is built in the package phase; run with mvn verify");
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "-jar", jar.toString(),
                "demo", "--ram", "64M", "--run-time", "300", "--json"));
        cmd.addAll(List.of(extra));
        Path out = Files.createTempFile("livemig-demo-", ".out");
        try {
            Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            // a demo takes seconds; minutes only if it hangs, and then it ends here instead of in the test timeout
            if (!p.waitFor(3, TimeUnit.MINUTES)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly); // its destination process
                p.destroyForcibly();
                fail("the demo did not end within 3 min; it printed: " + Files.readString(out));
            }
            List<String> lines = Files.readAllLines(out);
            assertFalse(lines.isEmpty(), "no output");
            String last = lines.getLast();
            Json.Obj verdict = JsonParser.parse(last).asObject();
            assertEquals(0, p.exitValue(), last);
            return verdict;
        } finally {
            Files.deleteIfExists(out);
        }
    }

    @ParameterizedTest
    @CsvSource({"tcp,", "unix,", "exec,", "file,", "tcp,return-path", "unix,pause-before-switchover"})
    void aRunningGuestMovesLiveAndIsVerifiedOnTheOtherSide(String transport, String capability) throws Exception {
        List<String> args = new ArrayList<>(List.of("--transport", transport, "--dirty-rate", "32M"));
        if (capability != null) {
            args.addAll(List.of("--capability", capability));
        }
        Json.Obj verdict = demo(args.toArray(String[]::new));
        assertEquals(new Json.Bool(true), verdict.get("verified").orElseThrow(), verdict.toString());
        Json.Obj info = verdict.get("query-migrate").orElseThrow().asObject();
        assertEquals("completed", info.string("status"));
        Json.Obj ram = info.get("ram").orElseThrow().asObject();
        assertEquals(64L << 20, ram.number("total"));
        assertTrue(ram.number("normal") + ram.number("duplicate") >= 16384, "every page went at least once");
        assertTrue(ram.number("dirty-sync-count") >= 2);
        assertTrue(info.number("downtime") >= 0);
    }

    @ParameterizedTest
    @CsvSource({"tcp,", "unix,multifd"})
    void withTlsPskEveryChannelIsEncryptedAndTheGuestStillVerifies(String transport, String capability) throws Exception {
        List<String> args = new ArrayList<>(List.of("--transport", transport, "--dirty-rate", "32M", "--tls", "psk"));
        if (capability != null) {
            args.addAll(List.of("--capability", capability));
        }
        Json.Obj verdict = demo(args.toArray(String[]::new));
        assertEquals(new Json.Bool(true), verdict.get("verified").orElseThrow(), verdict.toString());
        assertEquals("completed", verdict.get("query-migrate").orElseThrow().asObject().string("status"));
    }

    @org.junit.jupiter.api.Test
    void itsFlightRecordingShowsTheSwitchoverWhosePartsAddUpToTheReportedDowntime() throws Exception {
        Path file = Files.createTempFile("livemig-demo-", ".jfr");
        try {
            Json.Obj verdict = demo("--capability", "return-path", "--jfr", file.toString());
            long reported = verdict.get("query-migrate").orElseThrow().asObject().number("downtime");
            var switchovers = jdk.jfr.consumer.RecordingFile.readAllEvents(file).stream()
                    .filter(e -> e.getEventType().getName().equals("dev.livemig.Switchover")).toList();
            assertEquals(1, switchovers.size(), "one migration, one switchover: " + switchovers);
            var event = switchovers.getFirst();
            long parts = 0;
            for (String part : List.of("stop", "preSwitchover", "finalState", "transfer", "destinationLoad")) {
                parts += event.getDuration(part).toNanos();
            }
            long downtime = event.getDuration("downtime").toNanos();
            assertEquals(downtime, parts, "the parts add up to the downtime: " + event);
            assertEquals(reported, downtime / 1_000_000, "query-migrate's downtime is the event's: " + event);
        } finally {
            Files.deleteIfExists(file);
        }
    }

    @ParameterizedTest
    @CsvSource({"xbzrle,xbzrle-cache,128M", "compress,compression,32M"})
    void theDemoGuestMovesWithEachRamEncoding(String capability, String statsMember, String dirtyRate) throws Exception {
        // XBZRLE starts after the first round and hits only pages sent twice after it: a guest that sweeps its
        // RAM faster than the link carries it dirties every page again each round, so pages go again, as deltas.
        // How fast they are encoded (and compress's threads compress) is the CPU left to them: on a loaded
        // machine the guest may outrun the link for good, and auto-converge, QEMU's answer to that, throttles it
        // until the migration ends, however slow the machine.
        Json.Obj verdict = demo("--capability", capability, "--dirty-rate", dirtyRate, "--parameter", "max-bandwidth=64M",
                "--capability", "auto-converge");
        assertEquals(new Json.Bool(true), verdict.get("verified").orElseThrow(), verdict.toString());
        Json.Obj info = verdict.get("query-migrate").orElseThrow().asObject();
        assertEquals("completed", info.string("status"));
        assertTrue(info.get(statsMember).orElseThrow().asObject().number("pages") > 0, info.toString());
    }

    @Test
    void aGuestThatDirtiesFasterThanTheLinkMovesInPostcopy() throws Exception {
        // 400 MiB/s of writes over a 32 MiB/s link never converge: the demo switches to postcopy by itself
        Json.Obj verdict = demo("--capability", "postcopy-ram", "--dirty-rate", "400M", "--parameter", "max-bandwidth=32M");
        assertEquals(new Json.Bool(true), verdict.get("verified").orElseThrow(), verdict.toString());
        Json.Obj info = verdict.get("query-migrate").orElseThrow().asObject();
        assertEquals("completed", info.string("status"));
        assertTrue(info.get("ram").orElseThrow().asObject().number("postcopy-bytes") > 0, info.toString());
        long dirtied = verdict.number("guest_dirty_bytes_per_s"); // measured while the guest ran before the migration
        assertTrue(dirtied > 0 && dirtied <= 2 * (400L << 20), "the guest's pace of 400 MiB/s: " + dirtied);
        Json.Obj postcopy = verdict.get("postcopy").orElseThrow().asObject();
        assertTrue(postcopy.number("pages_placed") > 0, postcopy.toString());
        // the destination's guest ran from the switch on and waited for pages it touched first
        assertTrue(verdict.string("verification").contains("at the switch to postcopy"), verdict.toString());
        assertTrue(postcopy.number("requests") > 0, postcopy.toString());
        long measured = postcopy.get("fault_latency_histogram_us").orElseThrow().asObject().members().stream()
                .mapToLong(m -> m.value().asLong()).sum();
        assertTrue(measured > 0 && measured <= postcopy.number("requests"), "each page asked for and waited for: " + postcopy);
        assertFalse(postcopy.get("thread_blocktime_ms").orElseThrow().asObject().members().isEmpty(), postcopy.toString());
    }

    /**
     * The service upgrade: the guest, which also serves TCP clients, is replaced by a new process that maps its memory
     * and takes over its sockets; the clients, sending requests all along, see no failure and no answer lost or doubled.
     */
    @Test
    void inModeCprTransferANewProcessTakesOverTheMemoryAndTheServiceWithoutAClientNoticing() throws Exception {
        Json.Obj verdict = demo("--mode", "cpr-transfer", "--dirty-rate", "32M");
        assertEquals(new Json.Bool(true), verdict.get("verified").orElseThrow(), verdict.toString());
        Json.Obj service = verdict.get("service").orElseThrow().asObject();
        assertEquals(0, service.number("failed"), service.toString());
        assertTrue(service.number("answered") > 0, service.toString());
        assertEquals(new Json.Bool(true), service.get("answers_count_every_request_once").orElseThrow(), service.toString());
        assertTrue(verdict.get("stop_to_running_ms").orElseThrow() instanceof Json.Num, verdict.toString());
        Json.Obj info = verdict.get("query-migrate").orElseThrow().asObject();
        assertEquals("completed", info.string("status"));
        Json.Obj ram = info.get("ram").orElseThrow().asObject();
        assertEquals(64L << 20, ram.number("total"));
        assertEquals(0, ram.number("normal") + ram.number("duplicate"), "no page was copied: " + ram);
        assertTrue(ram.number("transferred") < 64 << 10, "the block list only: " + ram);
    }

    @Test
    void toldWhenTheDemoSwitchesToPostcopyAtThatDirtySyncCount() throws Exception {
        // as an operator's migrate-start-postcopy once query-migrate shows dirty-sync-count 2 (setup's sync and
        // the first pass's), not after the passes the demo's own rule waits for
        Json.Obj verdict = demo("--capability", "postcopy-ram", "--dirty-rate", "400M", "--parameter", "max-bandwidth=32M",
                "--postcopy-at-sync", "2");
        assertEquals(new Json.Bool(true), verdict.get("verified").orElseThrow(), verdict.toString());
        Json.Obj ram = verdict.get("query-migrate").orElseThrow().asObject().get("ram").orElseThrow().asObject();
        assertTrue(ram.number("postcopy-bytes") > 0, ram.toString());
        // the switch syncs once more to find what postcopy still owes
        assertEquals(3, ram.number("dirty-sync-count"), ram.toString());
    }

    @Test
    void aLinkCutInPostcopyRecoversByItselfAndTheGuestStillVerifies() throws Exception {
        // the sweep after the switch held to 16 MiB/s, so that the cut comes while pages are still owed
        Json.Obj verdict = demo("--capability", "postcopy-ram", "--dirty-rate", "400M", "--parameter", "max-bandwidth=32M",
                "--parameter", "max-postcopy-bandwidth=16M", "--recover-after-cut");
        assertEquals(new Json.Bool(true), verdict.get("verified").orElseThrow(), verdict.toString());
        assertEquals("completed", verdict.get("query-migrate").orElseThrow().asObject().string("status"));
        Json.Obj recovery = verdict.get("recovery").orElseThrow().asObject();
        assertEquals(new Json.Bool(true), recovery.get("cut").orElseThrow(), recovery.toString());
        assertTrue(recovery.number("paused_ms") >= 0, "postcopy-active again after the cut: " + recovery);
        assertTrue(recovery.number("resume_attempts") >= 1, recovery.toString());
    }

    static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> multifdMatrix() {
        var all = new ArrayList<org.junit.jupiter.params.provider.Arguments>();
        for (int channels : new int[] {1, 2, 4}) {
            for (String compression : List.of("none", "zlib", "zstd")) {
                for (boolean xbzrle : new boolean[] {false, true}) {
                    all.add(org.junit.jupiter.params.provider.Arguments.of(channels, compression, xbzrle));
                }
            }
        }
        return all.stream();
    }

    /**
     * Issue 5's matrix, each between two processes with the demo guest verified on the other side. One zlib
     * channel carries some 35 MB/s on a loaded two-core machine, barely more than the guest's 32 MB/s: such a
     * run took 126 s instead of 7, the guest all but outrunning the link. With auto-converge a guest that
     * outruns the link is throttled until the migration ends, however slow the machine.
     */
    @ParameterizedTest(name = "{0} channels, {1}, xbzrle {2}")
    @org.junit.jupiter.params.provider.MethodSource("multifdMatrix")
    void theDemoGuestMovesOverMultifdChannels(int channels, String compression, boolean xbzrle) throws Exception {
        List<String> args = new ArrayList<>(List.of("--capability", "multifd", "--parameter", "multifd-channels=" + channels,
                "--parameter", "multifd-compression=" + compression, "--dirty-rate", "32M", "--capability", "auto-converge"));
        if (xbzrle) {
            args.addAll(List.of("--capability", "xbzrle"));
        }
        Json.Obj verdict = demo(args.toArray(String[]::new));
        assertEquals(new Json.Bool(true), verdict.get("verified").orElseThrow(), verdict.toString());
        Json.Obj ram = verdict.get("query-migrate").orElseThrow().asObject().get("ram").orElseThrow().asObject();
        assertTrue(ram.number("multifd-bytes") >= ram.number("normal") * 4096, "pages went over the channels: " + ram);
    }

    /**
     * The destination's slowdev needs {@value SlowLoadDevice#SETUP_MILLIS} ms of setup and acknowledges the
     * switchover after it: the source keeps the guest running at least that long, so the setup is not part of
     * the downtime. Asserted as that order (total-time less downtime is how long the guest ran while migrating),
     * not as a downtime below the setup's 500 ms, which a loaded machine may exceed for reasons of its own.
     * SwitchoverAckIT shows that the source waits for the acknowledgement where nothing else holds it back.
     */
    @org.junit.jupiter.api.Test
    void switchoverAckKeepsTheSlowDevicesSetupOutOfTheDowntime() throws Exception {
        Json.Obj verdict = demo("--capability", "return-path", "--capability", "switchover-ack", "--dirty-rate", "16M");
        assertEquals(new Json.Bool(true), verdict.get("verified").orElseThrow(), verdict.toString());
        Json.Obj info = verdict.get("query-migrate").orElseThrow().asObject();
        long ranMs = info.number("total-time") - info.number("downtime");
        assertTrue(ranMs >= SlowLoadDevice.SETUP_MILLIS, "the source may stop the guest only once the destination's "
                + SlowLoadDevice.SETUP_MILLIS + " ms device setup is done, yet the guest ran only " + ranMs
                + " ms of the migration: " + info);
    }
}
