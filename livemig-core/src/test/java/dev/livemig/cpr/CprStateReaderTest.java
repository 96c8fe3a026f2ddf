package dev.livemig.cpr;

import dev.livemig.wire.MigrationException;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The CPR state's grammar, refused with what and where before any descriptor is used (§16.2). */
class CprStateReaderTest {
    @Test
    void anEmptyListIsAStateWithoutDescriptors() throws MigrationException {
        try (CprState state = CprStateReader.parse(header(CprState.MAGIC, 1, 0), Map.of())) {
            assertTrue(state.fds().isEmpty());
        }
    }

    @Test
    void aWrongMagicOrVersionIsRefusedWithQemusText() {
        assertTrue(refusal(header(0x51455646, 1, 0)).startsWith("Not a migration stream (bad magic 51455646)"));
        assertTrue(refusal(header(CprState.MAGIC, 2, 0)).startsWith("Unsupported migration stream version 2"));
    }

    @Test
    void anFdFieldWithoutItsDescriptorIsRefusedAtItsOffset() {
        byte[] one = entry("pc.ram", 0, ' ');
        String why = refusal(one);
        assertTrue(why.contains("no descriptor came with the fd field of") && why.contains("pc.ram") && why.contains("id 0"), why);
        assertTrue(why.contains("offset=0x" + Integer.toHexString(one.length - 2)), why);
    }

    /** A descriptor that came with a byte no fd field is (here the list's end) is one too many: refused, and closed. */
    @Test
    void aDescriptorNoFieldClaimsIsRefusedAndClosed(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        try (var server = dev.livemig.linux.UnixSocket.listen(dir.resolve("cpr.sock"));
             var sender = dev.livemig.linux.UnixSocket.connect(dir.resolve("cpr.sock"));
             var receiver = server.accept(10_000);
             var memory = dev.livemig.linux.MemoryFile.memfd("stray", 4096)) {
            long before = openDescriptors();
            sender.write(ByteBuffer.allocate(8).putInt(CprState.MAGIC).putInt(1).array());
            sender.sendDescriptor(memory, (byte) 0); // the end of the list, carrying a descriptor
            sender.shutdownOutput();
            var refused = assertThrows(MigrationException.class, () -> CprStateReader.receive(receiver));
            assertEquals("1 descriptor(s) that no fd field claims (section=cpr state offset=0x8)", refused.getMessage());
            assertEquals(before, openDescriptors(), "the stray descriptor was closed");
        }
    }

    private static long openDescriptors() throws java.io.IOException {
        try (var fds = java.nio.file.Files.list(java.nio.file.Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }

    @Test
    void malformedEntriesAreRefused() {
        assertTrue(refusal(header(CprState.MAGIC, 1, 7)).contains("element marker 7"));
        byte[] noNul = entry("pc.ram", 0, ' ');
        noNul[8 + 1 + 4 + 6] = 'x'; // the NUL of the name
        assertTrue(refusal(noNul).contains("without its terminating NUL"));
        var huge = ByteBuffer.allocate(8 + 1 + 4).putInt(CprState.MAGIC).putInt(1).put((byte) 1).putInt(1 << 30).array();
        assertTrue(refusal(huge).contains("name length 1073741824"), "bounded before anything is allocated");
        byte[] truncated = java.util.Arrays.copyOf(entry("pc.ram", 0, ' '), 12);
        assertFalse(refusal(truncated).isEmpty());
    }

    private static byte[] header(int magic, int version, int marker) {
        return ByteBuffer.allocate(9).putInt(magic).putInt(version).put((byte) marker).array();
    }

    /** One entry and the list's end, as QEMU writes it (the descriptor itself not attached). */
    private static byte[] entry(String name, int id, char fdByte) {
        var out = new ByteArrayOutputStream();
        byte[] n = (name + "\0").getBytes(StandardCharsets.UTF_8);
        out.writeBytes(ByteBuffer.allocate(8).putInt(CprState.MAGIC).putInt(1).array());
        out.write(1);
        out.writeBytes(ByteBuffer.allocate(4).putInt(n.length).array());
        out.writeBytes(n);
        out.writeBytes(ByteBuffer.allocate(4).putInt(id).array());
        out.write(fdByte);
        out.write(0);
        return out.toByteArray();
    }

    private static String refusal(byte[] bytes) {
        return assertThrows(MigrationException.class, () -> CprStateReader.parse(bytes, Map.of())).getMessage();
    }
}
