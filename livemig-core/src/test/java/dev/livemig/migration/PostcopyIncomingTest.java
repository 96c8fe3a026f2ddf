package dev.livemig.migration;

import dev.livemig.machine.RamBlock;
import dev.livemig.ram.RamLoader;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import dev.livemig.wire.format.MigrationCommand;
import dev.livemig.wire.format.MigrationCommands;
import dev.livemig.wire.format.StreamFraming;
import dev.livemig.wire.format.StreamRecord;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The postcopy commands as livemig record takes them: QEMU's order, whole pages, a package it can split. */
class PostcopyIncomingTest {
    private static final int PAGE = RamBlock.TARGET_PAGE_SIZE;
    private static final MigrationCommand.PostcopyAdvise ADVISE = new MigrationCommand.PostcopyAdvise(PAGE, PAGE);

    /** {@code prefix} bytes of padding, then {@code commands}; returns a reader positioned after the padding. */
    private static StreamReader stream(int prefix, Writes commands) throws MigrationException {
        StreamWriter w = StreamWriter.inMemory();
        w.bytes(new byte[prefix]);
        commands.to(w);
        StreamReader in = StreamReader.of(w.toByteArray());
        in.skip(prefix);
        return in;
    }

    interface Writes {
        void to(StreamWriter w) throws MigrationException;
    }

    /** The next command of {@code in}, decoded, and where it began. */
    private record At(MigrationCommand command, long offset) {
        static At next(StreamReader in) throws MigrationException {
            long at = in.offset();
            var raw = (StreamRecord.Command) StreamFraming.readRecord(in);
            return new At(MigrationCommands.decode(raw, in, true), at);
        }
    }

    private static byte[] packageOf(Writes inside) throws MigrationException {
        StreamWriter pkg = StreamWriter.inMemory();
        MigrationCommands.write(pkg, new MigrationCommand.PostcopyListen());
        inside.to(pkg);
        return pkg.toByteArray();
    }

    private static byte[] deviceSection() throws MigrationException {
        StreamWriter w = StreamWriter.inMemory();
        StreamFraming.writeSectionStart(w, true, 3, "timer", 0, 2);
        w.be64(42);
        StreamFraming.writeFooter(w, 3);
        return w.toByteArray();
    }

    private static StreamReader packaged(byte[] pkg) throws MigrationException {
        return stream(100, w -> {
            MigrationCommands.write(w, new MigrationCommand.Packaged(pkg.length));
            w.bytes(pkg);
        });
    }

    @Test
    void aPackageSplitsIntoItsDeviceSectionsAndThePingsToAnswer() throws Exception {
        byte[] device = deviceSection();
        byte[] pkg = packageOf(w -> {
            w.bytes(device);
            MigrationCommands.write(w, new MigrationCommand.Ping(3));
            MigrationCommands.write(w, new MigrationCommand.Ping(0x42)); // current QEMU's "package loaded"
            MigrationCommands.write(w, new MigrationCommand.PostcopyRun());
        });
        var p = new PostcopyIncoming(true);
        StreamReader advise = stream(0, w -> MigrationCommands.write(w, ADVISE));
        p.advise((MigrationCommand.PostcopyAdvise) At.next(advise).command(), List.of(), advise, 0);
        StreamReader in = packaged(pkg);
        At at = At.next(in);
        var split = p.unpack((MigrationCommand.Packaged) at.command(), in, at.offset());
        assertArrayEquals(device, split.deviceSections());
        assertEquals(List.of(3, 0x42), split.pings());
        assertEquals(PostcopyIncoming.Phase.RUNNING, p.phase());
        assertTrue(in.atEnd(), "the package's bytes were consumed");
    }

    @Test
    void commandsOutOfOrderAreRefusedWithWhereTheyCame() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            RamBlock block = new RamBlock("pc.ram", arena.allocate(16L * PAGE, PAGE), PAGE);
            var loader = new RamLoader(List.of(block));
            var p = new PostcopyIncoming(true);
            StreamReader in = stream(0x40, w -> MigrationCommands.write(w,
                    new MigrationCommand.PostcopyRamDiscard("pc.ram", List.of(new MigrationCommand.Range(0, PAGE)))));
            At discard = At.next(in);
            var e = assertThrows(MigrationException.class, () -> p.discard((MigrationCommand.PostcopyRamDiscard) discard.command(),
                    Map.of("pc.ram", block), loader, in, discard.offset()));
            assertEquals("POSTCOPY_RAM_DISCARD in postcopy state NONE (expected ADVISE or DISCARD)", e.bareMessage());
            assertEquals(0x40, e.offset());

            StreamReader pk = packaged(packageOf(w -> MigrationCommands.write(w, new MigrationCommand.PostcopyRun())));
            At early = At.next(pk);
            var e2 = assertThrows(MigrationException.class, () -> p.unpack((MigrationCommand.Packaged) early.command(), pk, early.offset()));
            assertTrue(e2.getMessage().startsWith("PACKAGED in postcopy state NONE"), e2.getMessage());
            assertEquals(100, e2.offset());

            var e3 = assertThrows(MigrationException.class, () -> p.outsidePackage(new MigrationCommand.PostcopyRun(), in, 7));
            assertEquals("POSTCOPY_RUN outside a postcopy package", e3.bareMessage());

            p.advise(ADVISE, List.of(block), in, 0);
            var twice = assertThrows(MigrationException.class, () -> p.advise(ADVISE, List.of(block), in, 9));
            assertEquals("POSTCOPY_ADVISE in postcopy state ADVISE (expected NONE)", twice.bareMessage());
        }
    }

    @Test
    void adviseNeedsPostcopyHereAndTheSamePageSizes() throws Exception {
        StreamReader in = stream(0, w -> { });
        var off = assertThrows(MigrationException.class, () -> new PostcopyIncoming(false).advise(ADVISE, List.of(), in, 5));
        assertTrue(off.getMessage().contains("postcopy-ram is off here"), off.getMessage());
        var huge = assertThrows(MigrationException.class, () -> new PostcopyIncoming(true)
                .advise(new MigrationCommand.PostcopyAdvise(PAGE | (2 << 20), PAGE), List.of(), in, 5));
        assertTrue(huge.getMessage().contains("page sizes differ: source summary=0x201000"), huge.getMessage());
    }

    @Test
    void discardedPagesAreOwedUntilTheyComeAgainAndRangesMustBeWholePagesInside() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            RamBlock block = new RamBlock("pc.ram", arena.allocate(16L * PAGE, PAGE), PAGE);
            var loader = new RamLoader(List.of(block));
            var p = new PostcopyIncoming(true);
            StreamReader in = stream(0, w -> { });
            p.advise(ADVISE, List.of(block), in, 0);
            p.discard(new MigrationCommand.PostcopyRamDiscard("pc.ram", List.of(new MigrationCommand.Range(2L * PAGE, 3L * PAGE))),
                    Map.of("pc.ram", block), loader, in, 0);
            assertEquals(3, loader.pagesOwed());
            assertEquals("pc.ram offset 0x2000", loader.firstPageOwed());
            assertEquals(PostcopyIncoming.Phase.DISCARD, p.phase());
            for (var bad : List.of(new MigrationCommand.Range(100, PAGE), new MigrationCommand.Range(15L * PAGE, 2L * PAGE))) {
                var e = assertThrows(MigrationException.class, () -> p.discard(
                        new MigrationCommand.PostcopyRamDiscard("pc.ram", List.of(bad)), Map.of("pc.ram", block), loader, in, 0));
                assertTrue(e.getMessage().contains("not whole pages inside block pc.ram"), e.getMessage());
            }
            var unknown = assertThrows(MigrationException.class, () -> p.discard(
                    new MigrationCommand.PostcopyRamDiscard("vga.vram", List.of(new MigrationCommand.Range(0, PAGE))),
                    Map.of("pc.ram", block), loader, in, 0));
            assertTrue(unknown.getMessage().contains("unknown RAM block vga.vram"), unknown.getMessage());
        }
    }

    @Test
    void aPackageThatIsNotListenDevicesPingsRunIsRefused() throws Exception {
        List<byte[]> bad = List.of(
                packageOf(w -> MigrationCommands.write(w, new MigrationCommand.Ping(3))), // no RUN at the end
                packageOf(w -> {
                    w.bytes(new byte[]{1, 2, 3, 4, 5, 6}); // not a FULL section
                    MigrationCommands.write(w, new MigrationCommand.PostcopyRun());
                }));
        for (byte[] pkg : bad) {
            var p = new PostcopyIncoming(true);
            p.advise(ADVISE, List.of(), stream(0, w -> { }), 0);
            StreamReader in = packaged(pkg);
            At at = At.next(in);
            assertThrows(MigrationException.class, () -> p.unpack((MigrationCommand.Packaged) at.command(), in, at.offset()));
        }
        StreamWriter noListen = StreamWriter.inMemory();
        MigrationCommands.write(noListen, new MigrationCommand.PostcopyRun());
        var p = new PostcopyIncoming(true);
        p.advise(ADVISE, List.of(), stream(0, w -> { }), 0);
        StreamReader in = packaged(noListen.toByteArray());
        At at = At.next(in);
        var e = assertThrows(MigrationException.class, () -> p.unpack((MigrationCommand.Packaged) at.command(), in, at.offset()));
        assertTrue(e.getMessage().contains("must open with POSTCOPY_LISTEN"), e.getMessage());
    }
}
