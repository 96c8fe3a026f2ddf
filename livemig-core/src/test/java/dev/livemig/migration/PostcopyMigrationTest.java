package dev.livemig.migration;

import dev.livemig.host.HostAssumptions;
import dev.livemig.machine.RunState;
import dev.livemig.transport.MigrationUri;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * livemig to livemig in postcopy: the guest switches while it writes, runs on the destination from
 * POSTCOPY_RUN on, and its threads' faults on pages not there yet (from Java code) are served by the
 * destination's page server, which asks the source for them. The source is a JVM of its own
 * ({@link PostcopySourceChild}), as it is in real use: in this JVM, a safepoint that came while a guest thread
 * waited for a page would wait for a source that cannot send it until the safepoint ends.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class PostcopyMigrationTest {
    @TempDir
    Path dir;

    private final LiveGuests guests = new LiveGuests(PostcopySourceChild.RAM);

    @BeforeEach
    void needsMissingPageFaults() {
        HostAssumptions.assumeUserfaultfdMissing();
    }

    @AfterEach
    void release() throws Exception {
        guests.close();
    }

    /**
     * {@code preempt}: none, or postcopy-preempt in current QEMU's form (the channel connected at the switch) or
     * 7.2's (a 7.2-dialect source connects it at the start and ends it with EOS); the destination takes either.
     * {@code cuts}: none; "recover": migrate-pause cuts the link in postcopy, both ends pause, the source resumes
     * where the destination listened (its page server listens there again by itself); "recover-twice": the first
     * resume is cut again inside the recovery handshake ({@link PostcopySourceChild}).
     */
    @ParameterizedTest(name = "{0} {1} cuts={2}")
    @CsvSource({"tcp, none, none", "unix, none, none", "tcp, preempt-at-switch, none", "unix, preempt-at-setup, none",
            "unix, none, recover", "tcp, preempt-at-switch, recover-twice"})
    void aWritingGuestMovesInPostcopyAndGoesOnWritingThereWhileItsPagesArrive(String transport, String preempt, String cuts)
            throws Exception {
        LiveGuest dest = guests.guest(20_000);
        dest.start(); // its cpu thread, paused until the migration starts the guest here
        dest.machine.pause();
        // stale content, as a reused destination (or one whose waiting prefault populated its RAM) holds: every page
        // still missing at LISTEN must be dropped, or the guest would read this instead of faulting
        dest.machine.ramBlocks().forEach(b -> b.memory().fill((byte) 0x5a));
        // postcopy-blocktime on one of the two: query-migrate reports blocktime only with it, as QEMU's
        boolean blocktime = transport.equals("tcp");
        var capabilities = EnumSet.of(MigrationCapability.POSTCOPY_RAM);
        if (blocktime) {
            capabilities.add(MigrationCapability.POSTCOPY_BLOCKTIME);
        }
        if (!preempt.equals("none")) {
            capabilities.add(MigrationCapability.POSTCOPY_PREEMPT);
        }
        var statuses = new java.util.concurrent.CopyOnWriteArrayList<MigrationStatus>();
        var incoming = new IncomingMigration(dest.machine,
                new MigrationConfig(capabilities, 300, MigrationConfig.DEFAULT_MAX_BANDWIDTH), true, e -> {
                    if (e instanceof MigrationEvent.StatusChanged c) {
                        statuses.add(c.status());
                    }
                });
        MigrationUri at = incoming.listen(MigrationUri.parse(transport.equals("tcp") ? "tcp:127.0.0.1:0"
                : "unix:" + dir.resolve("postcopy.sock")));
        Process source = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Dlivemig.warmup=off", "-Xmx512m",
                "-cp", System.getProperty("java.class.path"), PostcopySourceChild.class.getName(), at.toString(), preempt, cuts)
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String result;
        try (var out = new BufferedReader(new InputStreamReader(source.getInputStream(), StandardCharsets.UTF_8))) {
            result = out.readLine();
        } finally {
            if (!source.waitFor(30, TimeUnit.SECONDS)) {
                source.destroyForcibly();
            }
        }
        assertNotNull(result, "the source printed nothing; the destination: " + incoming.status().qemuName() + " " + incoming.error());
        String[] words = result.split(" ");
        assertEquals("completed", words[0], result);
        assertEquals(MigrationStatus.COMPLETED, incoming.awaitFinished(30, TimeUnit.SECONDS), incoming.error());
        assertEquals(RunState.RUNNING, dest.machine.runState(), "the guest runs on the destination since POSTCOPY_RUN");
        long onPreempt = incoming.postcopyOutcome().orElseThrow().pagesOnPreempt();
        var outcome = incoming.postcopyOutcome().orElseThrow().faults();
        if (preempt.equals("none")) {
            assertEquals(0, onPreempt, "without preempt every page comes on the main stream");
        } else {
            assertTrue(onPreempt > 0 && onPreempt <= outcome.requests(), "requested pages came on the preempt channel: "
                    + onPreempt + " of " + outcome.requests());
        }
        assertTrue(outcome.requests() > 0, "the destination's guest asked for pages: " + outcome);
        assertTrue(outcome.latencyP99Nanos() > 0, outcome.toString());
        assertTrue(outcome.measuredPages() > 0 && outcome.blocktimeNanos() > 0 && !outcome.threads().isEmpty(), outcome.toString());
        long served = Long.parseLong(words[1]);
        if (cuts.equals("none")) {
            assertTrue(served >= outcome.requests(), "the source served them: " + result + " " + outcome);
        } else {
            // a request in flight at a cut may be lost with the link; its page then comes by the sweep, read by the
            // destination from the cut stream or after the resume (only pages still waiting are asked for again)
            assertTrue(served > 0 && served >= outcome.requests() / 2, "the source served them: " + result + " " + outcome);
        }
        MigrationInfo.PostcopyBlocktime reported = incoming.info().postcopyBlocktime();
        if (blocktime) {
            assertNotNull(reported, incoming.info().toJson().toString());
            assertEquals(outcome.blocktimeNanos() / 1_000_000, reported.totalMs());
            assertEquals(outcome.threads().size(), reported.perThreadMs().size(), reported.toString());
            assertTrue(incoming.info().toJson().has("postcopy-vcpu-blocktime"));
        } else {
            assertNull(reported, "without postcopy-blocktime query-migrate has none");
        }
        var pausedThenRecovered = List.of(MigrationStatus.POSTCOPY_PAUSED, MigrationStatus.POSTCOPY_RECOVER, MigrationStatus.POSTCOPY_ACTIVE);
        long recoveries = java.util.Collections.indexOfSubList(statuses, pausedThenRecovered) < 0 ? 0
                : statuses.stream().filter(s -> s == MigrationStatus.POSTCOPY_RECOVER).count();
        assertEquals(switch (cuts) {
            case "recover" -> 1;
            case "recover-twice" -> 2;
            default -> 0;
        }, recoveries, "the destination paused and recovered: " + statuses);
        // the source's statuses: 7.2's recovery goes paused > recover, 10.0's through recover-setup (recover-twice)
        switch (cuts) {
            case "recover" -> assertTrue(words[3].contains("postcopy-paused>postcopy-recover>postcopy-active")
                    && !words[3].contains("recover-setup"), words[3]);
            case "recover-twice" -> assertTrue(words[3].contains(
                    "postcopy-paused>postcopy-recover-setup>postcopy-recover>postcopy-paused"), words[3]);
            default -> assertFalse(words[3].contains("paused"), words[3]);
        }
        dest.machine.pause();
        assertEquals(dest.cpu.writes, dest.counterSum(), "every write, before and after the switch, is in RAM exactly once");
        assertTrue(dest.cpu.writes > Long.parseLong(words[2]), "the guest went on writing on the destination");
        incoming.close();
    }
}
