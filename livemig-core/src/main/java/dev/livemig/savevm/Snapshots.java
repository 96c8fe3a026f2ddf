package dev.livemig.savevm;

import dev.livemig.machine.Machine;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Whole-machine snapshots: a paused machine saved to a file as QEMU's stream (what QEMU writes for
 * {@code migrate "exec:cat > FILE"}), and loaded back into an identically shaped machine. QEMU 7.2 reads
 * the files livemig writes and livemig reads QEMU's; sections livemig does not model are carried through
 * by the file's own vmdescription.
 */
public final class Snapshots {
    private Snapshots() {
    }

    /**
     * Saves {@code machine}, which must not be running, to {@code file}. The stream goes to a temporary file
     * beside it that replaces {@code file} only when complete, so a failed save never destroys an older snapshot.
     */
    public static void save(Machine machine, Path file) throws MigrationException {
        save(machine, file, false);
    }

    /** As {@link #save(Machine, Path)}; {@code mappedRam}: in QEMU 10.0's mapped-ram layout (see below). */
    public static void save(Machine machine, Path file, boolean mappedRam) throws MigrationException {
        checkSavable(machine);
        Path partial = file.resolveSibling(file.getFileName() + ".partial");
        try {
            try (FileChannel ch = GuestMemoryFile.openPartial(partial); StreamWriter out = new StreamWriter(ch)) {
                save(machine, out, mappedRam);
                GuestMemoryFile.commit(ch, partial, file);
            }
        } catch (IOException e) {
            throw new MigrationException("cannot write snapshot " + file + ": " + MigrationException.reason(e), e);
        } finally {
            try {
                Files.deleteIfExists(partial);
            } catch (IOException ignored) {
                // nothing left to protect: the snapshot itself is intact or was never replaced
            }
        }
    }

    /** Saves {@code machine}, which must not be running, as a stream on {@code out} (flushed, not closed). */
    public static void save(Machine machine, StreamWriter out) throws MigrationException {
        save(machine, out, false);
    }

    /**
     * {@code mappedRam}: QEMU 10.0's mapped-ram layout (capability mapped-ram, §17): each RAM block's pages at
     * fixed offsets of the file, zero pages as holes; {@code out} must start at the file's first byte. QEMU loads
     * it with capability mapped-ram and {@code migrate-incoming file:FILE}.
     */
    public static void save(Machine machine, StreamWriter out, boolean mappedRam) throws MigrationException {
        checkSavable(machine);
        StandardSections.of(machine).globalState().store(machine.runState());
        var save = new SaveVm(machine, out);
        StandardSections.of(machine).ram().mappedRamOutgoing(mappedRam);
        try {
            save.header(false, mappedRam);
            save.setup();
            while (!save.iterate(0)) {
                // paused machine: every round makes progress until nothing is dirty
            }
            save.complete();
        } finally {
            save.cleanup();
            StandardSections.of(machine).ram().mappedRamOutgoing(false);
        }
    }

    private static void checkSavable(Machine machine) throws MigrationException {
        SaveVm.checkNotBlocked(machine);
        if (machine.runState().isRunning()) {
            throw new MigrationException("snapshot needs a paused machine: machine=" + machine.name() + " state=running");
        }
    }

    /**
     * Loads {@code file} into {@code machine}; the machine's run state is left as it is (the source's is in
     * the result, for the caller to enter).
     */
    public static LoadVm.Result load(Machine machine, Path file) throws MigrationException {
        if (machine.runState().isRunning()) {
            throw new MigrationException("loading a snapshot needs a paused machine: machine=" + machine.name());
        }
        DescribedDevices described = DescribedDevices.fromFileTrailer(file);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
             StreamReader in = StreamReader.of(ch)) {
            return new LoadVm(machine, in, described).load();
        } catch (IOException e) {
            throw new MigrationException("cannot read snapshot " + file + ": " + MigrationException.reason(e), e);
        }
    }

    /** What a machine must look like to load a stream: its machine type and RAM block list, in order. */
    public record Shape(String machineType, java.util.List<Block> blocks) {
        /** A RAM block by its name and used length in bytes. */
        public record Block(String name, long length) {
        }

        /** A machine of this shape with nothing registered: loading the stream teaches it the devices. */
        public Machine machine() {
            var b = Machine.builder(machineType);
            for (Block block : blocks) {
                b.ram(block.name(), block.length());
            }
            return b.build();
        }
    }

    /**
     * Reads the header, the configuration record and the block list of the first RAM section (QEMU's
     * MEM_SIZE record) of a stream file; nothing is loaded.
     */
    public static Shape shape(Path file) throws MigrationException {
        return shape(file, RamCeiling.host());
    }

    /** As {@link #shape(Path)}, refusing a block list past {@code ceiling} before a machine is made of it. */
    public static Shape shape(Path file, RamCeiling ceiling) throws MigrationException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
             StreamReader in = StreamReader.of(ch)) {
            dev.livemig.wire.format.StreamFraming.readHeader(in);
            long at = in.offset();
            String machineType = ConfigurationRecord.readAny(in);
            {
                var record = dev.livemig.wire.format.StreamFraming.readRecord(in);
                if (!(record instanceof dev.livemig.wire.format.StreamRecord.SectionStart start)
                        || !start.idstr().equals(dev.livemig.ram.RamFlags.IDSTR)) {
                    throw in.errorAt(at, "the stream does not start with a RAM section: " + MigrationException.quote(record.toString()));
                }
                in.section(dev.livemig.ram.RamFlags.IDSTR);
                var blocks = dev.livemig.ram.RamBlockList.readOpening(in, ceiling::admit).stream()
                        .map(e -> new Shape.Block(e.name(), e.length())).toList();
                return new Shape(machineType, blocks);
            }
        } catch (IOException e) {
            throw new MigrationException("cannot read " + file + ": " + MigrationException.reason(e), e);
        }
    }
}
