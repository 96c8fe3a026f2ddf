package dev.livemig.multifd;

import dev.livemig.json.Json;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RamBlock;
import dev.livemig.machine.RunState;
import dev.livemig.migration.Migration;
import dev.livemig.migration.MigrationCapability;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.qemu.QemuMachines;
import dev.livemig.qemu.QemuOptions;
import dev.livemig.qemu.QemuProcess;
import dev.livemig.qemu.QemuVersion;
import dev.livemig.savevm.Snapshots;
import dev.livemig.transport.MigrationUri;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.ValueLayout;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A live migration from livemig with multifd into QEMU 7.2 and 10.0 started with {@code -incoming defer} and the same
 * multifd settings: QEMU takes livemig's main connection and channels, its initial and page packets, the
 * SYNC at every RAM section end and the zlib/zstd streams. A writer keeps changing guest memory (plain
 * stores, caught by the userfaultfd tracker) through the first passes, and the test once more while the
 * migration is held in pre-switchover; QEMU must end with livemig's final RAM.
 * With zero-copy-send the pages leave with MSG_ZEROCOPY (the destination sees no difference on the wire).
 */
@Tag("qemu")
class QemuMultifdOutgoingTest {
    private static final long REGION = 0x100000;
    private static final int REGION_BYTES = 8 << 20;

    @TempDir
    Path dir;

    /**
     * Into 10.0 the livemig machine has 10.0's machine type, so it speaks 10.0's dialect: multifd sync points
     * once per pass over RAM, each marked by a MULTIFD_FLUSH record (10.0 parks its channels at a SYNC packet
     * until that record comes: a stream in 7.2's dialect leaves every page sent over the channels unplaced
     * while both ends report completed), and SWITCHOVER_START before the final sections.
     */
    @ParameterizedTest(name = "{0}, {1} channels, {2}, zero-copy-send {3}")
    @CsvSource({"V7_2, 1, none, false", "V7_2, 2, none, false", "V7_2, 4, none, false", "V7_2, 2, zlib, false",
            "V7_2, 4, zlib, false", "V7_2, 2, zstd, false", "V7_2, 4, zstd, false", "V7_2, 2, none, true",
            "V7_2, 4, none, true",
            "V10_0, 2, none, false", "V10_0, 2, zlib, false", "V10_0, 2, zstd, false", "V10_0, 4, none, true"})
    void qemuTakesALivemigGuestOverMultifdChannels(QemuVersion version, int channels, String compression, boolean zeroCopy)
            throws Exception {
        Path known = dir.resolve("devices.snap");
        try (QemuProcess qemu = QemuProcess.start(QemuOptions.paused("pc").on(version))) {
            qemu.saveSnapshot(known); // the devices the livemig machine sends, as QEMU describes them
        }
        try (Machine m = QemuMachines.shaped(version, "pc");
             QemuProcess qemu = QemuProcess.start(QemuOptions.incoming("pc", "defer").on(version).withPaused(true))) { // -S: the BIOS must not run after
            Snapshots.load(m, known);
            RamBlock ram = m.ramBlock("pc.ram").orElseThrow();
            byte[] image = new byte[REGION_BYTES];
            new Random(channels * 31L + compression.hashCode()).nextBytes(image);
            for (int i = 0; i < image.length; i += 4 * 4096) {
                java.util.Arrays.fill(image, i, i + 4096, (byte) 0); // every fourth page zero: ZERO records on the main channel
            }
            ram.memory().asSlice(REGION, REGION_BYTES).copyFrom(java.lang.foreign.MemorySegment.ofArray(image));
            m.enter(RunState.RUNNING);

            setOnQemu(qemu, channels, compression);
            int port;
            try (var s = new ServerSocket(0)) {
                port = s.getLocalPort();
            }
            qemu.qmp().execute("migrate-incoming", Json.object().put("uri", "tcp:127.0.0.1:" + port).build());

            var caps = zeroCopy ? MigrationCapability.setOf("multifd", "zero-copy-send", "pause-before-switchover")
                    : MigrationCapability.setOf("multifd", "pause-before-switchover");
            var config = new MigrationConfig(caps, 300, 64L << 20)
                    .withParameter("multifd-channels", Integer.toString(channels))
                    .withParameter("multifd-compression", compression);
            Migration migration;
            AtomicBoolean writing = new AtomicBoolean(true);
            AtomicLong writes = new AtomicLong();
            Thread writer = Thread.ofPlatform().start(() -> {
                var rnd = new SplittableRandom(7);
                while (writing.get()) {
                    long at = REGION + rnd.nextLong(REGION_BYTES / 8) * 8;
                    ram.memory().set(ValueLayout.JAVA_LONG, at, rnd.nextLong());
                    if ((writes.incrementAndGet() & 255) == 0) {
                        Thread.onSpinWait();
                    }
                }
            });
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            try {
                while (writes.get() < 1000) { // the writer is running before the migration starts
                    assertTrue(writer.isAlive() && System.nanoTime() < deadline, "the writer did not start: " + writes.get());
                    Thread.sleep(1);
                }
                long writesAtStart = writes.get();
                migration = dev.livemig.testing.Controllers.migrate(m, config,
                        MigrationUri.parse("tcp:127.0.0.1:" + port)); // QEMU binds within migrate-incoming
                // The writer dirties the region as fast as its thread runs. Whether the migration converges while it
                // does depends on how that compares with what the channels carry (zlib on a loaded machine carries
                // less than the writer dirties), so it writes only until pages it changed have gone again: the
                // dirty bitmap synced three times. It has its thousand stores since the start whatever the load.
                while (true) {
                    var info = migration.info();
                    boolean resent = info.ram() != null && info.ram().dirtySyncCount() >= 3;
                    if ((resent || info.status() == MigrationStatus.PRE_SWITCHOVER) && writes.get() >= writesAtStart + 1000) {
                        break;
                    }
                    assertFalse(info.status().isFinal(), info.toJson() + "\n" + qemu.logTail());
                    assertTrue(writer.isAlive() && System.nanoTime() < deadline, "after 60 s the migration made no second "
                            + "pass or the guest no 1000 stores (" + (writes.get() - writesAtStart) + "): " + info.toJson());
                    Thread.sleep(10);
                }
            } finally {
                writing.set(false);
                writer.join();
            }
            deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (migration.status() != MigrationStatus.PRE_SWITCHOVER) { // converging, now that nothing writes
                assertFalse(migration.status().isFinal(), migration.info().toJson() + "\n" + qemu.logTail());
                assertTrue(System.nanoTime() < deadline, "not in pre-switchover within 60 s: " + migration.info().toJson());
                Thread.sleep(10);
            }
            // held in pre-switchover the guest still runs and what it writes is tracked: the final pass sends it
            var rnd = new SplittableRandom(11);
            for (int i = 0; i < 1000; i++) {
                ram.memory().set(ValueLayout.JAVA_LONG, REGION + rnd.nextLong(REGION_BYTES / 8) * 8, rnd.nextLong());
            }
            migration.continueFrom(MigrationStatus.PRE_SWITCHOVER);
            assertEquals(MigrationStatus.COMPLETED, migration.awaitFinished(60, TimeUnit.SECONDS),
                    migration.info().toJson() + "\n" + qemu.logTail());
            var info = qemu.waitForMigration(Duration.ofSeconds(30));
            assertEquals("completed", info.string("status"), info.toString());
            var stats = migration.info().ram();
            assertTrue(stats.multifdBytes() >= stats.normal() * 4096, "pages went over the channels: " + stats);

            byte[] expected = new byte[REGION_BYTES];
            java.lang.foreign.MemorySegment.ofArray(expected).copyFrom(ram.memory().asSlice(REGION, REGION_BYTES));
            assertArrayEquals(expected, qemu.readGuestMemory(REGION, REGION_BYTES), "QEMU holds livemig's final RAM");
            byte[] low = new byte[0xa0000];
            java.lang.foreign.MemorySegment.ofArray(low).copyFrom(ram.memory().asSlice(0, low.length));
            assertArrayEquals(low, qemu.readGuestMemory(0, low.length), "low memory");
        }
    }

    private static void setOnQemu(QemuProcess qemu, int channels, String compression) throws Exception {
        qemu.qmp().execute("migrate-set-capabilities", Json.object().put("capabilities", new Json.Arr(List.of(
                Json.object().put("capability", "multifd").put("state", true).build()))).build());
        qemu.qmp().execute("migrate-set-parameters", Json.object().put("multifd-channels", channels)
                .put("multifd-compression", compression).build());
    }
}
