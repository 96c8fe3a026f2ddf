package dev.livemig.migration;

import dev.livemig.machine.RamBlock;
import dev.livemig.ram.RamLoader;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.format.MigrationCommand;
import dev.livemig.wire.format.MigrationCommands;
import dev.livemig.wire.format.StreamRecord;
import dev.livemig.wire.format.WireFormat;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The postcopy commands as a destination that does not run the guest takes them ({@code livemig record}):
 * QEMU's incoming postcopy states NONE → ADVISE → DISCARD → RUNNING (format reference §12.1–§12.4), each
 * command refused out of order with its offset. DISCARD makes the discarded pages owed: each must arrive
 * again before the stream ends ({@link RamLoader#pagesOwed}). The package is split into the device sections it
 * carries (kept as they came: without a vmdescription nothing else can walk them) and the PINGs to answer.
 * Nothing faults here, so no page is ever requested: the source's sweep brings every page.
 */
final class PostcopyIncoming {
    /** QEMU's MAX_VM_CMD_PACKAGED_SIZE: a larger package is refused before it is read. */
    static final int MAX_PACKAGED_BYTES = 1 << 24;
    private static final int COMMAND_HEADER = 5;      // type, be16 command, be16 length
    private static final int PING_BYTES = COMMAND_HEADER + 4;
    private static final int FOOTER_BYTES = 5;        // 0x7e, be32 section id

    enum Phase { NONE, ADVISE, DISCARD, LISTENING, RUNNING }

    /** A package's content: the FULL device sections as they came, and the PING values inside, in order. */
    record Package(byte[] deviceSections, List<Integer> pings) {
    }

    private final boolean enabled;
    private Phase phase = Phase.NONE;

    /** {@code enabled}: postcopy-ram is on here; without it POSTCOPY_ADVISE is refused as QEMU refuses it. */
    PostcopyIncoming(boolean enabled) {
        this.enabled = enabled;
    }

    Phase phase() {
        return phase;
    }

    /** POSTCOPY_ADVISE: postcopy-ram on here, first of the postcopy commands, page sizes as this end's. */
    void advise(MigrationCommand.PostcopyAdvise advise, List<RamBlock> local, StreamReader in, long at) throws MigrationException {
        if (!enabled) {
            throw in.errorAt(at, "POSTCOPY_ADVISE, but postcopy-ram is off here (turn it on as on the source)");
        }
        expect(in, at, "POSTCOPY_ADVISE", Phase.NONE);
        if (!advise.carriesRamSizes()) {
            throw in.errorAt(at, "POSTCOPY_ADVISE without RAM page sizes: postcopy of dirty bitmaps only is not built in livemig");
        }
        long summary = 0;
        for (RamBlock b : local) {
            summary |= b.pageSize();
        }
        if (local.isEmpty()) {
            summary = RamBlock.TARGET_PAGE_SIZE; // advised before the block list: 4 KiB is all livemig maps
        }
        if (advise.pageSizeSummary() != summary || advise.targetPageSize() != RamBlock.TARGET_PAGE_SIZE) {
            throw in.errorAt(at, String.format("POSTCOPY_ADVISE page sizes differ: source summary=0x%x target=0x%x, here 0x%x and 0x%x",
                    advise.pageSizeSummary(), advise.targetPageSize(), summary, RamBlock.TARGET_PAGE_SIZE));
        }
        phase = Phase.ADVISE;
    }

    /** POSTCOPY_RAM_DISCARD: after ADVISE, ranges of whole pages inside a known block; they become owed. */
    void discard(MigrationCommand.PostcopyRamDiscard discard, Map<String, RamBlock> blocks, RamLoader loader,
                 StreamReader in, long at) throws MigrationException {
        if (phase != Phase.ADVISE && phase != Phase.DISCARD) {
            throw in.errorAt(at, "POSTCOPY_RAM_DISCARD in postcopy state " + phase + " (expected ADVISE or DISCARD)");
        }
        RamBlock block = blocks.get(discard.block());
        if (block == null || loader == null) {
            throw in.errorAt(at, "POSTCOPY_RAM_DISCARD for unknown RAM block " + MigrationException.quote(discard.block()));
        }
        for (MigrationCommand.Range r : discard.ranges()) {
            if (r.start() < 0 || r.length() <= 0 || r.start() % RamBlock.TARGET_PAGE_SIZE != 0
                    || r.length() % RamBlock.TARGET_PAGE_SIZE != 0 || r.length() > block.usedLength() - r.start()) {
                throw in.errorAt(at, String.format("POSTCOPY_RAM_DISCARD range not whole pages inside block %s: start 0x%x length 0x%x (block 0x%x)",
                        block.name(), r.start(), r.length(), block.usedLength()));
            }
            loader.expectAgain(block, r.start(), r.length());
        }
        phase = Phase.DISCARD;
    }

    /**
     * PACKAGED: reads its {@code length} bytes and splits them: POSTCOPY_LISTEN first, then the FULL device
     * sections, then the PINGs and POSTCOPY_RUN that close every package QEMU builds. Afterwards the state is
     * RUNNING and the rest of RAM follows on the main stream.
     */
    Package unpack(MigrationCommand.Packaged packaged, StreamReader in, long at) throws MigrationException {
        if (phase != Phase.ADVISE && phase != Phase.DISCARD) {
            throw in.errorAt(at, "PACKAGED in postcopy state " + phase + " (expected ADVISE or DISCARD)");
        }
        if (packaged.length() > MAX_PACKAGED_BYTES) {
            throw in.errorAt(at, "PACKAGED of " + packaged.length() + " bytes: more than " + MAX_PACKAGED_BYTES);
        }
        long start = in.offset();
        byte[] bytes = in.bytes((int) packaged.length());
        var inner = StreamReader.of(bytes);
        inner.section("package");
        StreamRecord first = dev.livemig.wire.format.StreamFraming.readRecord(inner);
        if (!(first instanceof StreamRecord.Command c && MigrationCommands.decode(c, inner, true) instanceof MigrationCommand.PostcopyListen)) {
            throw in.errorAt(start, "a postcopy package must open with POSTCOPY_LISTEN");
        }
        int end = bytes.length;
        if (end < COMMAND_HEADER || !isCommand(bytes, end - COMMAND_HEADER, MigrationCommands.POSTCOPY_RUN, 0)) {
            throw in.errorAt(start, "a postcopy package must end with POSTCOPY_RUN");
        }
        end -= COMMAND_HEADER;
        var pings = new ArrayList<Integer>();
        // a device section ends with its footer (0x7e, id), never with a PING's bytes: stripping stops there
        while (end - PING_BYTES >= COMMAND_HEADER && isCommand(bytes, end - PING_BYTES, MigrationCommands.PING, 4)) {
            int p = end - 4;
            pings.addFirst(((bytes[p] & 0xff) << 24) | ((bytes[p + 1] & 0xff) << 16) | ((bytes[p + 2] & 0xff) << 8) | (bytes[p + 3] & 0xff));
            end -= PING_BYTES;
        }
        int from = (int) inner.offset();
        if (from > end) {
            throw in.errorAt(start, "a postcopy package too short for its commands");
        }
        if (end > from && (bytes[from] != WireFormat.SECTION_FULL || end - from < FOOTER_BYTES
                || bytes[end - FOOTER_BYTES] != WireFormat.SECTION_FOOTER)) {
            throw in.errorAt(start + from, "a postcopy package carries something other than FULL device sections between"
                    + " POSTCOPY_LISTEN and its closing PINGs and POSTCOPY_RUN");
        }
        phase = Phase.RUNNING;
        return new Package(java.util.Arrays.copyOfRange(bytes, from, end), List.copyOf(pings));
    }

    /** PACKAGED for a destination that loads it record by record: after ADVISE or DISCARD, at most 16 MiB. */
    void checkPackage(MigrationCommand.Packaged packaged, StreamReader in, long at) throws MigrationException {
        if (phase != Phase.ADVISE && phase != Phase.DISCARD) {
            throw in.errorAt(at, "PACKAGED in postcopy state " + phase + " (expected ADVISE or DISCARD)");
        }
        if (packaged.length() > MAX_PACKAGED_BYTES) {
            throw in.errorAt(at, "PACKAGED of " + packaged.length() + " bytes: more than " + MAX_PACKAGED_BYTES);
        }
    }

    /** POSTCOPY_LISTEN (inside the package): after ADVISE or DISCARD. */
    void listen(StreamReader in, long at) throws MigrationException {
        if (phase != Phase.ADVISE && phase != Phase.DISCARD) {
            throw in.errorAt(at, "POSTCOPY_LISTEN in postcopy state " + phase + " (expected ADVISE or DISCARD)");
        }
        phase = Phase.LISTENING;
    }

    /** POSTCOPY_RUN (closing the package): after LISTEN. */
    void run(StreamReader in, long at) throws MigrationException {
        expect(in, at, "POSTCOPY_RUN", Phase.LISTENING);
        phase = Phase.RUNNING;
    }

    /** POSTCOPY_LISTEN or POSTCOPY_RUN outside a package: QEMU only ever sends them inside one. */
    void outsidePackage(MigrationCommand c, StreamReader in, long at) throws MigrationException {
        throw in.errorAt(at, MigrationCommands.name(MigrationCommands.number(c)) + " outside a postcopy package");
    }

    private static boolean isCommand(byte[] b, int at, int command, int length) {
        return b[at] == WireFormat.COMMAND && (b[at + 1] & 0xff) == command >>> 8 && (b[at + 2] & 0xff) == (command & 0xff)
                && (b[at + 3] & 0xff) == length >>> 8 && (b[at + 4] & 0xff) == (length & 0xff);
    }

    private void expect(StreamReader in, long at, String what, Phase wanted) throws MigrationException {
        if (phase != wanted) {
            throw in.errorAt(at, what + " in postcopy state " + phase + " (expected " + wanted + ")");
        }
    }
}
