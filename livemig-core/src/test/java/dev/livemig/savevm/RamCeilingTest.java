package dev.livemig.savevm;

import dev.livemig.testing.CraftedStreams;
import dev.livemig.wire.MigrationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class RamCeilingTest {
    @TempDir
    Path dir;

    private Path file(byte[] stream) throws Exception {
        return Files.write(dir.resolve("crafted.snap"), stream);
    }

    @Test
    void theDefaultIsTheHostsPhysicalMemory() {
        long host = RamCeiling.host().bytes();
        var os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        assertEquals(os.getTotalMemorySize(), host, "what the operating system reports");
        assertTrue(host >= Runtime.getRuntime().maxMemory() / 2, "at least of the order of the JVM's own heap: " + host);
    }

    @Test
    void aShapeWithinTheCeilingIsRead() throws Exception {
        var shape = Snapshots.shape(file(CraftedStreams.ramDeclaring("pc.ram", 1L << 20)), new RamCeiling(1L << 20));
        assertEquals(List.of(new Snapshots.Shape.Block("pc.ram", 1L << 20)), shape.blocks());
    }

    @Test
    void aTebibyteBlockIsRefusedBeforeAMachineIsMadeOfIt() throws Exception {
        var e = assertThrows(MigrationException.class,
                () -> Snapshots.shape(file(CraftedStreams.ramDeclaring("pc.ram", CraftedStreams.TIB)), new RamCeiling(16L << 30)));
        assertEquals("stream declares more RAM than the ceiling: block=pc.ram declared=1099511627776 (1.0 TiB) blocks-before=0"
                + " ceiling=17179869184 (16.0 GiB); a larger ceiling is an explicit choice (--max-ram)", e.bareMessage());
        assertEquals("ram", e.section());
        assertTrue(e.offset() > 0, "the offset of the block list's MEM_SIZE word");
    }

    @Test
    void fourExbibytesAreRefusedUnderTheHostCeiling() throws Exception {
        var e = assertThrows(MigrationException.class,
                () -> Snapshots.shape(file(CraftedStreams.ramDeclaring("pc.ram", CraftedStreams.FOUR_EIB))));
        assertTrue(e.getMessage().contains("declared=4611686018427387904 (4.0 EiB)"), e.getMessage());
    }

    @Test
    void blocksEachWithinTheCeilingAreRefusedWhenTogetherTheyAreNot() throws Exception {
        var w = dev.livemig.wire.StreamWriter.inMemory();
        dev.livemig.wire.format.StreamFraming.writeHeader(w);
        ConfigurationRecord.write(w, CraftedStreams.MACHINE, List.of());
        dev.livemig.wire.format.StreamFraming.writeSectionStart(w, false, 2, "ram", 0, 4);
        w.be64((3L << 30) | dev.livemig.ram.RamFlags.MEM_SIZE);
        w.str8("a").be64(1L << 30).str8("b").be64(1L << 30).str8("c").be64(1L << 30);
        var e = assertThrows(MigrationException.class, () -> Snapshots.shape(file(w.toByteArray()), new RamCeiling(2L << 30)));
        assertTrue(e.getMessage().contains("block=c declared=1073741824 (1.0 GiB) blocks-before=2147483648"), e.getMessage());
    }
}
