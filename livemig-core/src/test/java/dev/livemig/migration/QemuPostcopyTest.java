package dev.livemig.migration;

import dev.livemig.json.Json;
import dev.livemig.machine.Machine;
import dev.livemig.qemu.QemuOptions;
import dev.livemig.qemu.QemuProcess;
import dev.livemig.qemu.QemuVersion;
import dev.livemig.qmp.QmpError;
import dev.livemig.savevm.Snapshots;
import dev.livemig.testing.FaultProxy;
import dev.livemig.transport.MigrationUri;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * livemig postcopies a QEMU guest into a QEMU destination (format reference §12): the guest's state, recorded
 * from a paused QEMU, is loaded into a livemig machine, which migrates it with postcopy-ram and switches to
 * postcopy at once. The background sweep is held to 1 MiB/s, so memory the destination reads during postcopy
 * (pmemsave faults in QEMU, which asks for the pages on the return path) arrives because livemig serves the
 * requests ahead of the sweep. Afterwards the destination's memory equals the recorded guest's.
 */
@Tag("qemu")
class QemuPostcopyTest {
    private static final String MEMORY = "32M";
    private static final int RAM_BYTES = 32 << 20;
    private static final long IMAGE_AT = 0x100000;
    private static final int IMAGE_BYTES = 4 << 20;
    private static final int READ_BYTES = 64 << 10;

    @TempDir
    Path dir;

    /**
     * {@code preempt}: postcopy-preempt on both ends, in the form of the recorded machine type (7.2's channel at the
     * start with an EOS at the end, 10.0's at the switch), so the pages read early come on the preempt channel.
     */
    @ParameterizedTest(name = "{0} {1} release-ram={2} preempt={3}")
    @CsvSource({"V7_2, pc, false, false", "V7_2, q35, false, false", "V10_0, pc, false, false", "V7_2, pc, true, false",
            "V7_2, pc, false, true", "V10_0, q35, false, true", "V10_0, pc, true, true"})
    void aGuestPostcopiedIntoQemuArrivesWholeAndPagesItReadsEarlyAreServedFirst(QemuVersion version, String machine,
                                                                                boolean releaseRam, boolean preempt) throws Exception {
        byte[] image = image(machine);
        Guest guest = record(version, machine, image);
        Path file = guest.file();
        byte[] low = guest.low();
        byte[] high = guest.high();

        try (QemuProcess destination = QemuProcess.start(QemuOptions.incoming(machine, "defer").on(version).withPaused(true).withMemory(MEMORY));
             Machine m = Snapshots.shape(file).machine()) {
            m.enter(Snapshots.load(m, file).sourceRunState());
            int port = postcopyDestination(destination, preempt);
            var config = releaseRam ? postcopyConfig().withCapability(MigrationCapability.RELEASE_RAM)
                    : postcopyConfig();
            if (preempt) {
                config = config.withCapability(MigrationCapability.POSTCOPY_PREEMPT);
            }
            var migration = new Migration(m, config, QmpDialect.forMachine(m.compat()), e -> { });
            migration.start(MigrationUri.parse("tcp:127.0.0.1:" + port));
            migration.startPostcopy();
            awaitStatus(migration, MigrationStatus.POSTCOPY_ACTIVE, destination);
            // the destination's RAM is registered for faults once it takes the package's LISTEN; read only then
            destination.waitForMigration("postcopy-active", Duration.ofSeconds(30));

            // the last 64 KiB of the image, which the sweep would reach only after seconds at 1 MiB/s
            long readAt = IMAGE_AT + IMAGE_BYTES - READ_BYTES;
            byte[] early = destination.readGuestMemory(readAt, READ_BYTES);
            assertArrayEquals(Arrays.copyOfRange(image, IMAGE_BYTES - READ_BYTES, IMAGE_BYTES), early, "pages read during postcopy");
            assertEquals(MigrationStatus.POSTCOPY_ACTIVE, migration.status(), "the sweep was still going");
            assertTrue(migration.info().ram().postcopyRequests() > 0, "QEMU asked for the pages it read: " + migration.info().toJson());

            assertEquals(MigrationStatus.COMPLETED, migration.awaitFinished(60, TimeUnit.SECONDS),
                    migration.info().toJson() + "\n" + destination.logTail());
            destination.waitForMigration(Duration.ofSeconds(30));
            // QEMU's blocktime counts vCPU faults only (the reads above are its monitor's): one vCPU, one entry
            MigrationInfo atDestination = dev.livemig.qmp.QueryMigrateReply.parse(
                    destination.qmp().execute("query-migrate").asObject());
            assertNotNull(atDestination.postcopyBlocktime(), atDestination.toJson().toString());
            assertEquals(1, atDestination.postcopyBlocktime().perThreadMs().size(), atDestination.toJson().toString());
            assertArrayEquals(low, destination.readGuestMemory(0, low.length), "low RAM");
            assertArrayEquals(high, destination.readGuestMemory(IMAGE_AT, high.length), "RAM from the image on");
            MigrationInfo info = migration.info();
            assertTrue(info.ram().postcopyBytes() > IMAGE_BYTES / 2, "most of the image went after the switch: " + info.toJson());
            assertTrue(info.downtimeMs() >= 0, info.toJson().toString());
            assertEquals(dev.livemig.machine.RunState.POSTMIGRATE, m.runState(), "the source stays stopped");
            var sourceRam = m.ramBlock("pc.ram").orElseThrow().memory().asSlice(IMAGE_AT, IMAGE_BYTES);
            if (releaseRam) {
                assertEquals(-1, sourceRam.mismatch(java.lang.foreign.MemorySegment.ofArray(new byte[IMAGE_BYTES])),
                        "release-ram: the source handed its pages back once the destination had them");
            } else {
                assertEquals(-1, sourceRam.mismatch(java.lang.foreign.MemorySegment.ofArray(image)), "the source keeps its RAM");
            }
        }
    }

    /**
     * The destination dies in postcopy: the source pauses (postcopy-paused, waiting for a migrate resume=true that
     * will not come) until cancelled. Without release-ram it keeps a whole copy and cont resumes it; with it, pages
     * the destination confirmed are gone here, so the guest stays paused for good and cont is refused.
     */
    @ParameterizedTest(name = "{0} {1} release-ram={2}")
    @CsvSource({"V7_2, pc, false", "V7_2, pc, true"})
    void aDestinationThatDiesInPostcopyLeavesTheSourcePausedWithItsStateWholeForCont(QemuVersion version, String machine,
                                                                                     boolean releaseRam) throws Exception {
        byte[] image = image(machine);
        Guest guest = record(version, machine, image);
        try (QemuProcess destination = QemuProcess.start(QemuOptions.incoming(machine, "defer").on(version).withPaused(true).withMemory(MEMORY));
             Machine m = Snapshots.shape(guest.file()).machine()) {
            Snapshots.load(m, guest.file());
            m.enter(dev.livemig.machine.RunState.RUNNING);
            int port = postcopyDestination(destination);
            var config = releaseRam ? postcopyConfig().withCapability(MigrationCapability.RELEASE_RAM)
                    : postcopyConfig();
            var controller = MigrationController.builder(m).config(config).dialect(QmpDialect.forMachine(m.compat())).build();
            Migration migration = controller.migrate("tcp:127.0.0.1:" + port);
            controller.startPostcopy();
            awaitStatus(migration, MigrationStatus.POSTCOPY_ACTIVE, destination);
            destination.waitForMigration("postcopy-active", Duration.ofSeconds(30));
            if (releaseRam) {
                Thread.sleep(500); // the sweep goes on at 1 MiB/s and the destination confirms what it placed
            }
            ProcessHandle qemu = ProcessHandle.of(destination.pid()).orElseThrow();
            qemu.destroyForcibly();
            qemu.onExit().get(30, TimeUnit.SECONDS);

            // a cut link pauses postcopy (the destination could come back with migrate-recover); this one is gone
            // for good, so the operator cancels
            awaitStatus(migration, MigrationStatus.POSTCOPY_PAUSED, destination);
            controller.cancel();
            assertEquals(MigrationStatus.CANCELLED, migration.awaitFinished(60, TimeUnit.SECONDS), migration.info().toJson().toString());
            assertEquals(dev.livemig.machine.RunState.POSTMIGRATE, m.runState(), "not restarted: the destination may have run it");
            if (releaseRam) {
                assertTrue(migration.ramReleased());
                var refused = assertThrows(MigrationRefusedException.class, controller::cont);
                assertTrue(refused.getMessage().contains("it cannot run here"), refused.getMessage());
                return;
            }
            byte[] kept = m.ramBlock("pc.ram").orElseThrow().memory().asSlice(IMAGE_AT, guest.high().length).toArray(ValueLayout.JAVA_BYTE);
            assertArrayEquals(guest.high(), kept, "the source's RAM is whole");
            assertThrows(MigrationRefusedException.class, () -> controller.migrate("tcp:127.0.0.1:1"),
                    "QEMU's rule: no migration from postmigrate");
            controller.cont();
            assertEquals(dev.livemig.machine.RunState.RUNNING, m.runState(), "cont resumes it here");
        }
    }

    /**
     * QEMU postcopies into {@code livemig record} (format reference §12): it advises, discards, sends the package
     * and the rest of RAM after the switch; record answers the PINGs, takes the package's device sections as
     * they are and follows RAM to EOF. The recording holds the guest's memory exactly and loads into QEMU.
     */
    @ParameterizedTest(name = "{0} {1} preempt={2}")
    @CsvSource({"V7_2, pc, false", "V7_2, q35, false", "V10_0, pc, false", "V7_2, pc, true", "V10_0, q35, true"})
    void aQemuSourcePostcopiesIntoLivemigRecordWhichKeepsTheWholeGuest(QemuVersion version, String machine,
                                                                       boolean preempt) throws Exception {
        byte[] image = image(machine);
        Path file = dir.resolve("postcopied.snap");
        byte[] low;
        byte[] high;
        FaultProxy proxy = null;
        try (QemuProcess source = QemuProcess.start(QemuOptions.paused(machine).on(version).withMemory(MEMORY).withImage(IMAGE_AT, image))) {
            low = source.readGuestMemory(0, 0xa0000);
            high = source.readGuestMemory(IMAGE_AT, RAM_BYTES - (int) IMAGE_AT);
            // with postcopy-preempt QEMU opens a second connection (at the start in 7.2, at the switch in 10.0)
            var capabilities = preempt ? EnumSet.of(MigrationCapability.POSTCOPY_RAM, MigrationCapability.POSTCOPY_PREEMPT)
                    : EnumSet.of(MigrationCapability.POSTCOPY_RAM);
            var recorder = new StreamRecorder(new MigrationConfig(capabilities, 300, MigrationConfig.DEFAULT_MAX_BANDWIDTH));
            var at = (MigrationUri.Tcp) recorder.listen(MigrationUri.parse("tcp:127.0.0.1:0"));
            var recorded = CompletableFuture.supplyAsync(() -> {
                try {
                    return recorder.record(file);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            var qemuCapabilities = new java.util.ArrayList<Json>(List.of(
                    on("postcopy-ram")));
            if (preempt) {
                qemuCapabilities.add(on("postcopy-preempt"));
            }
            source.qmp().execute("migrate-set-capabilities", Json.object().put("capabilities", new Json.Arr(qemuCapabilities)).build());
            // slow enough that precopy cannot finish before the switch
            source.qmp().execute("migrate-set-parameters", Json.object().put("max-bandwidth", 8L << 20).build());
            // a proxy keeps QEMU's own stream for analyze
            proxy = FaultProxy.clean(new java.net.InetSocketAddress(at.host(), at.port()));
            source.qmp().execute("migrate", Json.object().put("uri", proxy.uri()).build());
            source.qmp().execute("migrate-start-postcopy");
            Json.Obj done = source.waitForMigration(Duration.ofSeconds(60));
            long postcopyBytes = done.get("ram").orElseThrow().asObject().get("postcopy-bytes").orElseThrow().asLong();
            assertTrue(postcopyBytes > IMAGE_BYTES / 2, "most of the image went after the switch: " + done);
            var result = recorded.get(60, TimeUnit.SECONDS);
            assertEquals(version.machineType(machine), result.machineType());
            assertTrue(result.tailBytes() > 0, "the package's device sections were kept: " + result);
        } finally {
            if (proxy != null) {
                proxy.close();
            }
        }
        // QEMU's postcopy stream as it went: analyze reads through the package to the pages after the switch
        Path raw = dir.resolve("qemu-postcopy.stream");
        java.nio.file.Files.write(raw, proxy.copy(0, FaultProxy.Direction.TO_DESTINATION));
        Path rawRam = java.nio.file.Files.createDirectories(dir.resolve("raw-x"));
        dev.livemig.analyze.StreamDump.extract(raw, rawRam, name -> { });
        byte[] streamed = java.nio.file.Files.readAllBytes(rawRam.resolve("pc.ram"));
        assertArrayEquals(high, Arrays.copyOfRange(streamed, (int) IMAGE_AT, (int) IMAGE_AT + high.length), "RAM analyze extracts");
        // postcopy streams carry no vmdescription: analyze extracts the RAM and names the devices undecoded
        Path extracted = java.nio.file.Files.createDirectories(dir.resolve("x"));
        dev.livemig.analyze.StreamDump.extract(file, extracted, name -> { });
        byte[] ram = java.nio.file.Files.readAllBytes(extracted.resolve("pc.ram"));
        assertArrayEquals(low, Arrays.copyOfRange(ram, 0, low.length), "recorded low RAM");
        assertArrayEquals(high, Arrays.copyOfRange(ram, (int) IMAGE_AT, (int) IMAGE_AT + high.length), "recorded RAM");
        try (QemuProcess loaded = QemuProcess.start(QemuOptions.incoming(machine, "exec:cat '" + file + "'").on(version)
                .withPaused(true).withMemory(MEMORY))) {
            loaded.waitForMigration(Duration.ofSeconds(30));
            assertArrayEquals(low, loaded.readGuestMemory(0, low.length), "the recording loaded by QEMU: low RAM");
            assertArrayEquals(high, loaded.readGuestMemory(IMAGE_AT, high.length), "the recording loaded by QEMU");
        }
    }

    /**
     * QEMU postcopies into a livemig destination that takes it as QEMU's own would: the machine shaped like the
     * guest (from an earlier recording, which also describes QEMU's devices), postcopy-ram on, its RAM registered
     * for missing pages at LISTEN and served by the page server.
     */
    @ParameterizedTest(name = "{0} {1} preempt={2}")
    @CsvSource({"V7_2, pc, false", "V10_0, pc, false", "V7_2, pc, true", "V10_0, q35, true"})
    void aQemuSourcePostcopiesIntoALivemigDestination(QemuVersion version, String machine, boolean preempt) throws Exception {
        byte[] image = image(machine);
        Guest shape = record(version, machine, image);
        try (Machine m = Snapshots.shape(shape.file()).machine();
             QemuProcess source = QemuProcess.start(QemuOptions.paused(machine).on(version).withMemory(MEMORY).withImage(IMAGE_AT, image))) {
            // QEMU's device sections are read with the descriptions a recording's load leaves registered; the
            // RAM it loaded goes at POSTCOPY_ADVISE, which drops all of it
            Snapshots.load(m, shape.file());
            var capabilities = EnumSet.of(MigrationCapability.POSTCOPY_RAM);
            var qemuCapabilities = new java.util.ArrayList<Json>(List.of(
                    on("postcopy-ram")));
            if (preempt) {
                capabilities.add(MigrationCapability.POSTCOPY_PREEMPT);
                qemuCapabilities.add(on("postcopy-preempt"));
            }
            var config = new MigrationConfig(capabilities, 300, MigrationConfig.DEFAULT_MAX_BANDWIDTH);
            IncomingMigration incoming = dev.livemig.testing.Controllers.listen(m, config, MigrationUri.parse("tcp:127.0.0.1:0"), false);
            source.qmp().execute("migrate-set-capabilities", Json.object().put("capabilities", new Json.Arr(qemuCapabilities)).build());
            source.qmp().execute("migrate-set-parameters", Json.object().put("max-bandwidth", 8L << 20)
                    .put("max-postcopy-bandwidth", 1L << 20).build());
            source.qmp().execute("migrate", Json.object().put("uri", incoming.address().toString()).build());
            source.qmp().execute("migrate-start-postcopy");
            var ram = m.ramBlock("pc.ram").orElseThrow().memory();
            // the end of the image, which QEMU's sweep at 1 MiB/s reaches only after seconds: read now, it faults
            // here and is asked for (the source is another process: this JVM may wait for it)
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (incoming.status() != MigrationStatus.POSTCOPY_ACTIVE && incoming.status() != MigrationStatus.COMPLETED
                    && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            long readAt = IMAGE_AT + IMAGE_BYTES - READ_BYTES;
            assertArrayEquals(Arrays.copyOfRange(image, IMAGE_BYTES - READ_BYTES, IMAGE_BYTES),
                    ram.asSlice(readAt, READ_BYTES).toArray(ValueLayout.JAVA_BYTE), "pages read during postcopy");
            Json.Obj done = source.waitForMigration(Duration.ofSeconds(60));
            assertTrue(done.get("ram").orElseThrow().asObject().get("postcopy-bytes").orElseThrow().asLong() > IMAGE_BYTES / 2,
                    "most of the image went after the switch: " + done);
            assertEquals(MigrationStatus.COMPLETED, incoming.awaitFinished(30, TimeUnit.SECONDS), incoming.error());
            var outcome = incoming.postcopyOutcome().orElseThrow();
            assertTrue(outcome.pagesPlaced() > 0 && outcome.faults().requests() > 0, outcome.toString());
            if (preempt) {
                assertTrue(outcome.pagesOnPreempt() > 0, "QEMU sent the pages asked for on the preempt channel: " + outcome);
            } else {
                assertEquals(0, outcome.pagesOnPreempt());
            }
            assertHolds(ram, shape);
        }
    }

    /**
     * Recovery with QEMU as the source (§12.6): QEMU's migrate-pause cuts the link in postcopy, the livemig
     * destination pauses and its page server listens again where it listened; QEMU's migrate resume=true there
     * asks for the received bitmap of every block, resumes, and finishes. Memory equal.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"V7_2", "V10_0"})
    void aQemuSourceCutInPostcopyResumesIntoTheLivemigDestination(QemuVersion version) throws Exception {
        String machine = "pc";
        byte[] image = image(machine);
        Guest shape = record(version, machine, image);
        try (Machine m = Snapshots.shape(shape.file()).machine();
             QemuProcess source = QemuProcess.start(QemuOptions.paused(machine).on(version).withMemory(MEMORY).withImage(IMAGE_AT, image))) {
            Snapshots.load(m, shape.file());
            var config = new MigrationConfig(EnumSet.of(MigrationCapability.POSTCOPY_RAM), 300, MigrationConfig.DEFAULT_MAX_BANDWIDTH);
            IncomingMigration incoming = dev.livemig.testing.Controllers.listen(m, config, MigrationUri.parse("tcp:127.0.0.1:0"), false);
            source.qmp().execute("migrate-set-capabilities", Json.object().put("capabilities", new Json.Arr(List.of(
                    on("postcopy-ram")))).build());
            source.qmp().execute("migrate-set-parameters", Json.object().put("max-bandwidth", 8L << 20)
                    .put("max-postcopy-bandwidth", 1L << 20).build());
            source.qmp().execute("migrate", Json.object().put("uri", incoming.address().toString()).build());
            source.qmp().execute("migrate-start-postcopy");
            awaitIncoming(incoming, MigrationStatus.POSTCOPY_ACTIVE);
            source.waitForMigration("postcopy-active", Duration.ofSeconds(30));

            source.qmp().execute("migrate-pause");
            awaitIncoming(incoming, MigrationStatus.POSTCOPY_PAUSED);
            source.waitForMigration("postcopy-paused", Duration.ofSeconds(30));
            // as an operator would: again until the destination listens again
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (true) {
                source.qmp().execute("migrate", Json.object().put("uri", incoming.address().toString()).put("resume", true).build());
                Thread.sleep(300);
                if (incoming.status() != MigrationStatus.POSTCOPY_PAUSED || System.nanoTime() > deadline) {
                    break;
                }
                source.waitForMigration("postcopy-paused", Duration.ofSeconds(30));
            }
            Json.Obj done = source.waitForMigration(Duration.ofSeconds(60));
            assertEquals("completed", done.string("status"), done.toString());
            assertEquals(MigrationStatus.COMPLETED, incoming.awaitFinished(30, TimeUnit.SECONDS), incoming.error());
            var ram = m.ramBlock("pc.ram").orElseThrow().memory();
            assertHolds(ram, shape);
        }
    }

    /**
     * Recovery with QEMU as the destination (§12.6): livemig's migrate-pause cuts the link in postcopy, QEMU pauses
     * too; QEMU's migrate-recover listens anew, livemig's resume asks for QEMU's received bitmaps, sends what is
     * missing, and QEMU's RESUME_ACK lets it finish. All memory equal.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"V7_2", "V10_0"})
    void aLivemigSourceCutInPostcopyResumesIntoTheQemuDestination(QemuVersion version) throws Exception {
        String machine = "pc";
        byte[] image = image(machine);
        Guest guest = record(version, machine, image);
        try (QemuProcess destination = QemuProcess.start(QemuOptions.incoming(machine, "defer").on(version).withPaused(true).withMemory(MEMORY));
             Machine m = Snapshots.shape(guest.file()).machine()) {
            m.enter(Snapshots.load(m, guest.file()).sourceRunState());
            int port = postcopyDestination(destination);
            var migration = new Migration(m, postcopyConfig(), QmpDialect.forMachine(m.compat()), e -> { });
            migration.start(MigrationUri.parse("tcp:127.0.0.1:" + port));
            migration.startPostcopy();
            awaitStatus(migration, MigrationStatus.POSTCOPY_ACTIVE, destination);
            destination.waitForMigration("postcopy-active", Duration.ofSeconds(30));
            while (migration.info().ram().postcopyBytes() == 0) { // the package is out: QEMU can go on from there
                Thread.sleep(5);
            }

            migration.pausePostcopy();
            awaitStatus(migration, MigrationStatus.POSTCOPY_PAUSED, destination);
            destination.waitForMigration("postcopy-paused", Duration.ofSeconds(30));
            int again;
            try (var s = new java.net.ServerSocket(0)) {
                again = s.getLocalPort();
            }
            destination.qmp().execute("migrate-recover", Json.object().put("uri", "tcp:127.0.0.1:" + again).build());
            migration.resumePostcopy(MigrationUri.parse("tcp:127.0.0.1:" + again));

            assertEquals(MigrationStatus.COMPLETED, migration.awaitFinished(60, TimeUnit.SECONDS),
                    migration.info().toJson() + "\n" + destination.logTail());
            destination.waitForMigration(Duration.ofSeconds(30));
            assertArrayEquals(guest.low(), destination.readGuestMemory(0, guest.low().length), "low RAM");
            assertArrayEquals(guest.high(), destination.readGuestMemory(IMAGE_AT, guest.high().length), "RAM from the image on");
        }
    }

    private static void awaitIncoming(IncomingMigration incoming, MigrationStatus wanted) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (incoming.status() != wanted) {
            assertFalse(incoming.status().isFinal(), () -> "ended before " + wanted.qemuName() + ": " + incoming.error());
            assertTrue(System.nanoTime() < deadline, "not " + wanted.qemuName() + " within 30 s: " + incoming.status());
            Thread.sleep(5);
        }
    }

    /** A QMP capability entry that switches {@code name} on. */
    private static Json on(String name) {
        return Json.object().put("capability", name).put("state", true).build();
    }

    /** A livemig destination's RAM holds the recorded guest's memory below 640 KiB and from the image on. */
    private static void assertHolds(java.lang.foreign.MemorySegment ram, Guest shape) {
        assertArrayEquals(shape.low(), ram.asSlice(0, shape.low().length).toArray(ValueLayout.JAVA_BYTE), "low RAM");
        assertArrayEquals(shape.high(), ram.asSlice(IMAGE_AT, shape.high().length).toArray(ValueLayout.JAVA_BYTE), "RAM from the image on");
    }

    /** A recorded QEMU guest: the snapshot file and its memory below 640 KiB and from the image on. */
    private record Guest(Path file, byte[] low, byte[] high) {
    }

    private static byte[] image(String machine) {
        byte[] image = new byte[IMAGE_BYTES];
        new Random(machine.hashCode()).nextBytes(image);
        return image;
    }

    /** A paused QEMU with {@code image} in its RAM, recorded by livemig into a snapshot. */
    private Guest record(QemuVersion version, String machine, byte[] image) throws Exception {
        Path file = dir.resolve("guest.snap");
        try (QemuProcess source = QemuProcess.start(QemuOptions.paused(machine).on(version).withMemory(MEMORY).withImage(IMAGE_AT, image))) {
            byte[] low = source.readGuestMemory(0, 0xa0000);
            byte[] high = source.readGuestMemory(IMAGE_AT, RAM_BYTES - (int) IMAGE_AT);
            var recorder = new StreamRecorder(MigrationConfig.defaults());
            MigrationUri at = recorder.listen(MigrationUri.parse("tcp:127.0.0.1:0"));
            var recorded = CompletableFuture.supplyAsync(() -> {
                try {
                    return recorder.record(file);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            source.qmp().execute("migrate-set-parameters", Json.object().put("max-bandwidth", 1L << 30).build());
            source.qmp().execute("migrate", Json.object().put("uri", at.toString()).build());
            source.waitForMigration(Duration.ofSeconds(60));
            recorded.get(60, TimeUnit.SECONDS);
            return new Guest(file, low, high);
        }
    }

    /** postcopy-ram on, listening on a free port (returned); skips where QEMU cannot be a postcopy destination. */
    private static int postcopyDestination(QemuProcess destination) throws Exception {
        return postcopyDestination(destination, false);
    }

    /** As {@link #postcopyDestination(QemuProcess)}, with postcopy-preempt when {@code preempt}. */
    private static int postcopyDestination(QemuProcess destination, boolean preempt) throws Exception {
        var capabilities = new java.util.ArrayList<Json>(List.of(
                on("postcopy-ram"),
                on("postcopy-blocktime")));
        if (preempt) {
            capabilities.add(on("postcopy-preempt"));
        }
        try {
            destination.qmp().execute("migrate-set-capabilities", Json.object().put("capabilities", new Json.Arr(capabilities)).build());
        } catch (QmpError e) {
            // QEMU's destination needs a userfaultfd it may not get here (unprivileged, without /dev/userfaultfd)
            assumeTrue(false, "this host's QEMU cannot be a postcopy destination: " + e.getMessage());
        }
        int port;
        try (var s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort();
        }
        destination.qmp().execute("migrate-incoming", Json.object().put("uri", "tcp:127.0.0.1:" + port).build());
        return port;
    }

    /** postcopy-ram, precopy unlimited in practice, the sweep after the switch held to 1 MiB/s. */
    private static MigrationConfig postcopyConfig() throws Exception {
        return new MigrationConfig(EnumSet.of(MigrationCapability.POSTCOPY_RAM), 300, 1L << 30)
                .withParameter("max-postcopy-bandwidth", Long.toString(1L << 20));
    }

    private static void awaitStatus(Migration migration, MigrationStatus wanted, QemuProcess destination) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (migration.status() != wanted) {
            assertFalse(migration.status().isFinal(), () -> "ended before " + wanted.qemuName() + ": "
                    + migration.info().toJson() + "\n" + destination.logTail());
            assertTrue(System.nanoTime() < deadline, "not " + wanted.qemuName() + " within 30 s: " + migration.info().toJson());
            Thread.sleep(5);
        }
    }
}
