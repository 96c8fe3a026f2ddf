package dev.livemig.ram;

import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.channels.Channels;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The MEM_SIZE block list, read once for the loader, analyze, snapshots and record. */
class RamBlockListTest {
    private static byte[] list(long total, Object... nameLength) throws MigrationException {
        var bytes = new ByteArrayOutputStream();
        var out = new StreamWriter(Channels.newChannel(bytes));
        out.be64(total | RamFlags.MEM_SIZE);
        for (int i = 0; i < nameLength.length; i += 2) {
            out.str8((String) nameLength[i]).be64((Long) nameLength[i + 1]);
        }
        out.be64(RamFlags.EOS);
        out.flush();
        return bytes.toByteArray();
    }

    @Test
    void entriesAreReadUntilTheTotalIsUsedUpEachAdmittedWithWhatCameBefore() throws Exception {
        var admitted = new ArrayList<String>();
        var read = new ArrayList<String>();
        var in = StreamReader.of(list(0x3000, "pc.ram", 0x2000L, "rom", 0x1000L));
        List<RamBlockList.Entry> entries = RamBlockList.read(in, 0, skipWord(in),
                (r, at, name, length, before) -> admitted.add(name + "@" + before),
                (r, entry, entryAt) -> read.add(entry.name() + "@" + entryAt));
        assertEquals(List.of(new RamBlockList.Entry("pc.ram", 0x2000), new RamBlockList.Entry("rom", 0x1000)), entries);
        assertEquals(List.of("pc.ram@0", "rom@8192"), admitted);
        assertEquals(List.of("pc.ram@8", "rom@23"), read, "each entry handed on where it started, before the next is read");
        assertEquals(RamFlags.EOS, in.be64(), "nothing read past the list");
    }

    private static long skipWord(StreamReader in) throws MigrationException {
        return in.be64() & ~0xfffL;
    }

    @Test
    void aListThatDoesNotAddUpOrHasAnEmptyBlockIsRefusedAtTheEntry() throws Exception {
        for (byte[] bad : List.of(list(0x1000, "big", 0x2000L), list(0x1000, "empty", 0L, "x", 0x1000L))) {
            var in = StreamReader.of(bad);
            var e = assertThrows(MigrationException.class,
                    () -> RamBlockList.read(in, 0, skipWord(in), RamBlockList.Admission.ANY, RamBlockList.EntryReader.NONE));
            assertEquals(8, e.offset(), e.getMessage());
        }
    }

    @Test
    void anAdmissionRefusesBeforeTheEntryIsHandedOn() throws Exception {
        var in = StreamReader.of(list(0x2000, "a", 0x1000L, "b", 0x1000L));
        var handed = new ArrayList<String>();
        var e = assertThrows(MigrationException.class, () -> RamBlockList.read(in, 0, skipWord(in),
                (r, at, name, length, before) -> {
                    if (before > 0) {
                        throw r.errorAt(at, "over the ceiling");
                    }
                }, (r, entry, at) -> handed.add(entry.name())));
        assertTrue(e.getMessage().contains("over the ceiling"));
        assertEquals(List.of("a"), handed);
    }

    @Test
    void noMoreThanMaxBlocksEntries() throws Exception {
        Object[] many = new Object[2 * (RamBlockList.MAX_BLOCKS + 1)];
        for (int i = 0; i < RamBlockList.MAX_BLOCKS + 1; i++) {
            many[2 * i] = "b" + i;
            many[2 * i + 1] = 0x1000L;
        }
        var in = StreamReader.of(list(0x1000L * (RamBlockList.MAX_BLOCKS + 1), many));
        var e = assertThrows(MigrationException.class,
                () -> RamBlockList.read(in, 0, skipWord(in), RamBlockList.Admission.ANY, RamBlockList.EntryReader.NONE));
        assertTrue(e.getMessage().contains("longer than " + RamBlockList.MAX_BLOCKS), e.getMessage());
    }

    @Test
    void aSectionThatDoesNotOpenWithTheListIsRefused() throws Exception {
        var bytes = new ByteArrayOutputStream();
        var out = new StreamWriter(Channels.newChannel(bytes));
        out.be64(RamFlags.EOS);
        out.flush();
        var e = assertThrows(MigrationException.class, () -> RamBlockList.readOpening(StreamReader.of(bytes.toByteArray()), RamBlockList.Admission.ANY));
        assertTrue(e.getMessage().contains("does not start with the block list"), e.getMessage());
    }
}
