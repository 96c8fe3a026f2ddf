package dev.livemig.savevm;

import dev.livemig.machine.RunState;
import dev.livemig.wire.ChunkedChannel;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

class SnapshotsTest {
    @TempDir
    Path dir;

    static byte[] snapshot(TestGuest guest) throws MigrationException {
        var out = StreamWriter.inMemory();
        Snapshots.save(guest.machine, out);
        return out.toByteArray();
    }

    static LoadVm.Result load(TestGuest guest, StreamReader in) throws MigrationException {
        return new LoadVm(guest.machine, in, DescribedDevices.NONE).load();
    }

    @Test
    void aPausedMachineMovesThroughAFileWithEveryByteOfItsState() throws Exception {
        Path file = dir.resolve("guest.snap");
        try (var source = new TestGuest().fill(7); var target = new TestGuest()) {
            source.machine.pause();
            Snapshots.save(source.machine, file);
            var result = Snapshots.load(target.machine, file);
            assertEquals("", source.differencesFrom(target));
            assertEquals(RunState.PAUSED, result.sourceRunState());
            assertNotNull(result.vmDescription());
        }
    }

    @Test
    void loadingGivesTheSameStateWhateverTheDelivery() throws Exception {
        try (var source = new TestGuest().fill(3)) {
            byte[] stream = snapshot(source);
            for (StreamReader in : ChunkedChannel.deliveries(stream)) {
                try (var target = new TestGuest()) {
                    load(target, in);
                    assertEquals("", source.differencesFrom(target));
                }
            }
        }
    }

    @Test
    void theTrailerDescribesEveryFullSectionInQemusSchema() throws Exception {
        try (var source = new TestGuest().fill(1)) {
            byte[] stream = snapshot(source);
            String json = new String(new LoadVm(new TestGuest().machine, StreamReader.of(stream), DescribedDevices.NONE)
                    .load().vmDescription());
            assertEquals("{\"page_size\": 4096, \"devices\": ["
                    + "{\"name\": \"counter\", \"instance_id\": 0, \"vmsd_name\": \"counter\", \"version\": 2, \"fields\": ["
                    + "{\"name\": \"ticks\", \"type\": \"uint32\", \"size\": 4}, {\"name\": \"offset\", \"type\": \"int64\", \"size\": 8}, "
                    + "{\"name\": \"enabled\", \"type\": \"bool\", \"size\": 1}, {\"name\": \"regs\", \"array_len\": 4, \"type\": \"uint16\", \"size\": 2}, "
                    + "{\"name\": \"label\", \"type\": \"buffer\", \"size\": 8}], \"subsections\": [{\"vmsd_name\": \"counter/extra\", "
                    + "\"version\": 1, \"fields\": [{\"name\": \"extra\", \"type\": \"uint64\", \"size\": 8}]}]}, "
                    + "{\"name\": \"globalstate\", \"instance_id\": 0, \"vmsd_name\": \"globalstate\", \"version\": 1, \"fields\": ["
                    + "{\"name\": \"size\", \"type\": \"uint32\", \"size\": 4}, {\"name\": \"runstate\", \"type\": \"buffer\", \"size\": 100}]}]}",
                    json);
        }
    }

    @Test
    void aRunningMachineIsNotSnapshotted() {
        try (var guest = new TestGuest()) {
            guest.machine.resume();
            var e = assertThrows(MigrationException.class, () -> snapshot(guest));
            assertTrue(e.getMessage().contains("paused"), e.getMessage());
        }
    }

    @Test
    void blockersRefuseWithTheirReasonsUntilRemoved() throws Exception {
        try (var guest = new TestGuest()) {
            var blocker = guest.machine.blockers().add("device vfio0 does not support migration");
            var e = assertThrows(MigrationException.class, () -> snapshot(guest));
            assertTrue(e.getMessage().contains("device vfio0 does not support migration"), e.getMessage());
            guest.machine.blockers().remove(blocker);
            assertDoesNotThrow(() -> snapshot(guest));
        }
    }

    @Test
    void aFailedSaveLeavesTheEarlierSnapshotIntact() throws Exception {
        Path file = dir.resolve("keep.snap");
        try (var guest = new TestGuest().fill(2)) {
            Snapshots.save(guest.machine, file);
            byte[] before = Files.readAllBytes(file);
            guest.machine.devices().registerLive("broken", 0, 1, new TestGuest.Journal() {
                @Override
                public void saveCompletePrecopy(StreamWriter out) {
                    throw new IllegalStateException("device lost its state");
                }
            });
            var e = assertThrows(MigrationException.class, () -> Snapshots.save(guest.machine, file));
            assertEquals("broken", e.section(), e.getMessage());
            assertArrayEquals(before, Files.readAllBytes(file));
            assertFalse(Files.exists(dir.resolve("keep.snap.partial")));
        }
    }

    @Test
    void aSectionTheDestinationDoesNotHaveIsRejectedByName() throws Exception {
        try (var source = new TestGuest().fill(4); var target = new TestGuest()) {
            target.machine.devices().unregister("counter", 0);
            var e = assertThrows(MigrationException.class, () -> load(target, StreamReader.of(snapshot(source))));
            assertTrue(e.getMessage().contains("unknown section: idstr=counter instance_id=0"), e.getMessage());
            assertTrue(e.offset() > 0);
        }
    }

    @Test
    void aPartForASectionThatNeverStartedIsRejectedWithItsId() throws Exception {
        var w = StreamWriter.inMemory();
        dev.livemig.wire.format.StreamFraming.writeHeader(w);
        ConfigurationRecord.write(w, "livemig-test", java.util.List.of());
        dev.livemig.wire.format.StreamFraming.writeSectionContinue(w, false, 99);
        byte[] stream = w.toByteArray();
        try (var target = new TestGuest()) {
            var e = assertThrows(MigrationException.class, () -> load(target, StreamReader.of(stream)));
            assertTrue(e.getMessage().contains("never started: section_id=99"), e.getMessage());
            assertEquals(stream.length, e.offset());
        }
    }

    @Test
    void aNewerDeviceVersionIsRejected() throws Exception {
        try (var source = new TestGuest("livemig-test", 3).fill(4); var target = new TestGuest("livemig-test", 2)) {
            var e = assertThrows(MigrationException.class, () -> load(target, StreamReader.of(snapshot(source))));
            assertTrue(e.getMessage().contains("version=3 supported=2"), e.getMessage());
            assertEquals("counter", e.section());
        }
    }

    @Test
    void anotherMachineTypeIsRejected() throws Exception {
        try (var source = new TestGuest("type-a", 2); var target = new TestGuest("type-b", 2)) {
            var e = assertThrows(MigrationException.class, () -> load(target, StreamReader.of(snapshot(source))));
            assertTrue(e.getMessage().contains("machine type differs: received=type-a local=type-b"), e.getMessage());
        }
    }

    @Test
    void everyTruncationBeforeEofIsAMigrationExceptionAndAfterItTheStateIsWhole() throws Exception {
        try (var source = new TestGuest().fill(5)) {
            byte[] stream = snapshot(source);
            int trailer;
            try (var probe = new TestGuest()) {
                trailer = load(probe, StreamReader.of(stream)).vmDescription().length + 5;
            }
            int eof = stream.length - trailer - 1;
            assertEquals(0, stream[eof], "EOF record");
            for (int cut = 0; cut < stream.length; cut += cut < 2000 || cut > eof - 50 ? 1 : 97) {
                byte[] part = Arrays.copyOf(stream, cut);
                try (var target = new TestGuest()) {
                    if (cut <= eof) {
                        var e = assertThrows(MigrationException.class, () -> load(target, StreamReader.of(part)), "cut at " + cut);
                        assertTrue(e.getMessage().contains("offset=0x"), e.getMessage());
                        assertTrue(e.offset() <= cut, "offset " + e.offset() + " inside the " + cut + " bytes");
                    } else {
                        // all state precedes EOF; the trailer is informational, as for QEMU
                        var result = load(target, StreamReader.of(part));
                        assertEquals("", source.differencesFrom(target), "cut at " + cut);
                        assertEquals(cut == eof + 1 ? null : "truncated", result.trailerProblem() == null ? null : "truncated");
                    }
                }
            }
        }
    }

    @Test
    void anUnknownSectionsEscapeLadenIdstrIsEscapedInTheError() throws Exception {
        Path file = Files.write(dir.resolve("esc.snap"),
                dev.livemig.testing.CraftedStreams.deviceSectionNamed(dev.livemig.testing.CraftedStreams.ESCAPE_IDSTR));
        try (var m = dev.livemig.machine.Machine.builder(dev.livemig.testing.CraftedStreams.MACHINE).ram("pc.ram", 4096).build()) {
            m.pause();
            var e = assertThrows(MigrationException.class, () -> Snapshots.load(m, file));
            assertTrue(e.getMessage().startsWith("unknown section: idstr=\\x1b[2J\\x1b[31mdev\\x0averified: ok\\x9b0m\\xff instance_id=0"),
                    e.getMessage());
            assertTrue(e.getMessage().chars().allMatch(c -> c >= 0x20 && c < 0x7f), e.getMessage());
        }
    }

    @Test
    void aMissingSnapshotIsNamedWithTheReason() throws Exception {
        Path missing = dir.resolve("missing.snap");
        try (var guest = new TestGuest()) {
            guest.machine.pause();
            var e = assertThrows(MigrationException.class, () -> Snapshots.load(guest.machine, missing));
            assertEquals("cannot read " + missing + ": no such file or directory", e.getMessage());
        }
    }
}
