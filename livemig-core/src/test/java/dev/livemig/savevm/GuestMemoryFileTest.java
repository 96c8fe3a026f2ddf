package dev.livemig.savevm;

import dev.livemig.machine.Machine;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import static org.junit.jupiter.api.Assertions.*;

/** Files of guest memory are the owner's alone and appear under their name only whole. */
class GuestMemoryFileTest {
    @TempDir
    Path dir;

    private static Machine machine() {
        Machine m = Machine.builder("t").ram("ram", 1 << 20).build();
        m.ramBlock("ram").orElseThrow().memory().set(ValueLayout.JAVA_LONG, 4096, 7);
        return m;
    }

    @Test
    void aSnapshotIsReadableByItsOwnerOnlyEvenWhereAnOlderPartialFileWasNot() throws Exception {
        Path file = dir.resolve("guest.snap");
        Path leftover = dir.resolve("guest.snap.partial");
        Files.write(leftover, new byte[] {1, 2, 3});
        Files.setPosixFilePermissions(leftover, PosixFilePermissions.fromString("rw-r--r--"));
        try (Machine m = machine()) {
            Snapshots.save(m, file);
        }
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
        assertFalse(Files.exists(leftover), "the partial file became the snapshot");
        try (Machine back = machine()) {
            back.ramBlock("ram").orElseThrow().memory().fill((byte) 0);
            Snapshots.load(back, file);
            assertEquals(7, back.ramBlock("ram").orElseThrow().memory().get(ValueLayout.JAVA_LONG, 4096));
        }
    }

    @Test
    void commitReplacesAnOlderFileWhole() throws Exception {
        Path file = dir.resolve("f");
        Files.write(file, new byte[100]);
        Path partial = dir.resolve("f.part");
        try (var ch = GuestMemoryFile.openPartial(partial)) {
            ch.write(java.nio.ByteBuffer.wrap(new byte[] {9, 9}));
            GuestMemoryFile.commit(ch, partial, file);
        }
        assertArrayEquals(new byte[] {9, 9}, Files.readAllBytes(file));
        assertFalse(Files.exists(partial));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
    }
}
