package dev.livemig.ram;

import dev.livemig.machine.RamBlock;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;

import java.util.ArrayList;
import java.util.List;

/**
 * The RAM block list of a MEM_SIZE record (§7.4): the total in the record's word, then one entry (be8 name
 * length, name, be64 length) per block until the lengths add up to it. Read here for every reader of RAM
 * sections (the loader, analyze, snapshots' shape, record), so that the grammar and its checks exist once.
 * The list is untrusted: each entry is checked against what is left of the total and handed to an admission
 * (a ceiling on declared RAM) before any caller allocates for it, and the number of entries is bounded.
 */
public final class RamBlockList {
    /** More entries than any machine has (QEMU's pc has a handful); a list past it is refused. */
    public static final int MAX_BLOCKS = 4096;

    private RamBlockList() {
    }

    /**
     * One block of the list; {@code address} is the guest-physical address of the block's memory region, which
     * the entry carries only with capability x-ignore-shared ({@link #NO_ADDRESS} without it).
     */
    public record Entry(String name, long length, long address) {
        /** An entry without an address. */
        public Entry(String name, long length) {
            this(name, length, NO_ADDRESS);
        }

        public boolean hasAddress() {
            return address != NO_ADDRESS;
        }
    }

    /** {@link Entry#address()} of a list written without addresses. */
    public static final long NO_ADDRESS = -1;

    /** Accepts a block, or refuses it (a RAM ceiling); {@code sumBefore} is what the entries before it declared. */
    @FunctionalInterface
    public interface Admission {
        Admission ANY = (in, at, name, length, sumBefore) -> { };

        void admit(StreamReader in, long at, String name, long length, long sumBefore) throws MigrationException;
    }

    /** Called after each entry is read, before the next: a mapped-ram stream's block data follows its entry. */
    @FunctionalInterface
    public interface EntryReader {
        EntryReader NONE = (in, entry, entryAt) -> { };

        void read(StreamReader in, Entry entry, long entryAt) throws MigrationException;
    }

    /**
     * The entries of a block list whose total is {@code total}, the MEM_SIZE word having been read at {@code at}.
     * Refused (with the offset of the entry): a length of zero or past what is left of the total, more than
     * {@link #MAX_BLOCKS} entries, and whatever {@code admission} refuses.
     */
    public static List<Entry> read(StreamReader in, long at, long total, Admission admission, EntryReader each)
            throws MigrationException {
        return read(in, at, total, admission, each, false);
    }

    /**
     * As above; with {@code addresses} (capability x-ignore-shared, which both ends must have alike) each entry
     * carries the be64 guest-physical address of its block after the length.
     */
    public static List<Entry> read(StreamReader in, long at, long total, Admission admission, EntryReader each, boolean addresses)
            throws MigrationException {
        var entries = new ArrayList<Entry>();
        long remaining = total;
        long sum = 0;
        while (remaining > 0) {
            long entryAt = in.offset();
            String name = in.str8();
            long length = in.be64();
            if (length <= 0 || length > remaining) {
                throw in.errorAt(entryAt, String.format("RAM block %s of length 0x%x beyond what is left of the list's total: remaining=0x%x total=0x%x",
                        MigrationException.quote(name), length, remaining, total));
            }
            if (entries.size() == MAX_BLOCKS) {
                throw in.errorAt(entryAt, "RAM block list longer than " + MAX_BLOCKS + " blocks");
            }
            admission.admit(in, at, name, length, sum);
            sum += length;
            remaining -= length;
            var entry = new Entry(name, length, addresses ? in.be64() : NO_ADDRESS);
            entries.add(entry);
            each.read(in, entry, entryAt);
        }
        return entries;
    }

    /**
     * The block list that opens a RAM section's first body: its MEM_SIZE word, then the entries. Refused when
     * the section starts with anything else.
     */
    public static List<Entry> readOpening(StreamReader in, Admission admission) throws MigrationException {
        return readOpening(in, admission, false);
    }

    /** As above; {@code addresses}: the entries carry guest-physical addresses (x-ignore-shared). */
    public static List<Entry> readOpening(StreamReader in, Admission admission, boolean addresses) throws MigrationException {
        long at = in.offset();
        long word = in.be64();
        if ((word & RamFlags.MEM_SIZE) == 0) {
            throw in.errorAt(at, "the RAM section does not start with the block list");
        }
        return read(in, at, word & ~(long) (RamBlock.TARGET_PAGE_SIZE - 1), admission, EntryReader.NONE, addresses);
    }
}
