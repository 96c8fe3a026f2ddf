package dev.livemig.analyze;

import dev.livemig.json.Json;
import dev.livemig.machine.RamBlock;
import dev.livemig.ram.CompressedPage;
import dev.livemig.ram.RamRecord;
import dev.livemig.ram.RamRecords;
import dev.livemig.ram.Xbzrle;
import dev.livemig.savevm.RamCeiling;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import java.util.zip.Inflater;

/**
 * The "ram" section as analyze-migration.py shows it: {@code "section sizes"} (each block's length as
 * {@code 0x%016x}) and, when asked, {@code "memory"}: one entry per page record, keyed
 * {@code "BLOCK (0x%016x)"}, either {@code "Filled with 0xNN"} or the page's bytes in hex. Extraction writes
 * each block into a file named after it (relative to a directory) as the records arrive. Unlike the script,
 * it also reads XBZRLE and legacy compressed pages, applied onto the page as the destination would.
 * One object per RAM section id: the block named last carries over to the next part, as on the wire.
 */
final class RamDump implements AutoCloseable {
    private static final int PAGE = RamBlock.TARGET_PAGE_SIZE;

    private final boolean dumpMemory;
    private final Path extractInto;           // null: no extraction
    private final Consumer<String> printed;   // what the script prints while extracting
    private final Map<String, String> sizes = new LinkedHashMap<>();
    private final Map<String, Long> lengths = new HashMap<>();
    private final Map<String, Json> memory = new LinkedHashMap<>();
    private final Map<String, FileChannel> files = new HashMap<>();
    private final Map<String, MemorySegment> pages = new HashMap<>(); // with -m and without -x: XBZRLE bases
    private final MemorySegment[] filled = new MemorySegment[256];      // shared content of "Filled with 0xNN" pages
    private final Inflater inflater = new Inflater();
    private final Run run = new Run();
    private final byte[] page = new byte[PAGE];
    private String name = "";
    private final RamRecords records = new RamRecords(); // the section's grammar; the block named last carries over
    private boolean flushRecords; // current QEMU's per-round dialect: multifd syncs at MULTIFD_FLUSH, not at EOS
    private boolean mappedRam;

    private final StreamStats stats; // null: not counted

    private final java.util.List<MultifdChannelDump> channels;
    private final RamCeiling ceiling;

    RamDump(boolean dumpMemory, Path extractInto, Consumer<String> printed, StreamStats stats,
            java.util.List<MultifdChannelDump> channels, RamCeiling ceiling) {
        this.channels = channels;
        this.ceiling = ceiling;
        this.stats = stats;
        this.dumpMemory = dumpMemory;
        this.extractInto = extractInto;
        this.printed = printed;
    }

    Json.Obj toJson() {
        var s = Json.object();
        sizes.forEach(s::put);
        var o = Json.object().put("section sizes", s.build());
        if (dumpMemory) {
            var m = Json.object();
            memory.forEach(m::put);
            o.put("memory", m.build());
        }
        return o.build();
    }

    /**
     * One RAM section body, up to and including its EOS, through the section grammar the destination uses
     * ({@link RamRecords}: one kind per word, as QEMU's loader reads it; analyze-migration.py tests the flag
     * bits one by one, which only differs for words QEMU never writes and its loader refuses).
     */
    void read(StreamReader in) throws MigrationException {
        while (true) {
            RamRecord record = records.next(in, ceiling::admit, (stream, entry, entryAt) -> {
                // the ceiling has admitted the block before a block-sized file is made for it
                name = entry.name();
                sizes.put(name, String.format("0x%016x", entry.length()));
                lengths.put(name, entry.length());
                if (extractInto != null) {
                    openBlockFile(stream, entryAt, entry.length());
                }
                if (mappedRam) {
                    mappedBlock(stream, entry.length());
                }
            });
            long at = record.at();
            switch (record) {
                case RamRecord.BlockList list -> {
                    // read entry by entry above
                }
                case RamRecord.Zero zero -> {
                    long addr = page(in, at, zero.block(), zero.offset());
                    if (dumpMemory) {
                        String key = key(addr);
                        memory.put(key, new Json.Str(String.format("Filled with 0x%02x", zero.fill())));
                        pages.put(key, filledWith(zero.fill()));
                    }
                    if (extractInto != null) {
                        java.util.Arrays.fill(page, (byte) zero.fill());
                        store(addr, false); // a later pass may zero a page that held data: the file must say so
                    }
                    count(StreamStats.Kind.ZERO, in.offset() - at);
                }
                case RamRecord.Page data -> {
                    pageData(in, page(in, at, data.block(), data.offset()));
                    count(StreamStats.Kind.NORMAL, in.offset() - at);
                }
                case RamRecord.Compressed c -> {
                    long addr = page(in, at, c.block(), c.offset());
                    byte[] bytes = in.bytes(c.length());
                    try {
                        CompressedPage.decode(bytes, c.length(), inflater, MemorySegment.ofArray(page));
                    } catch (CompressedPage.Malformed e) {
                        throw in.errorAt(at, "compressed page at " + key(addr) + ": " + e.getMessage());
                    }
                    store(addr, true);
                    count(StreamStats.Kind.COMPRESSED, in.offset() - at);
                }
                case RamRecord.Xbzrle x -> {
                    long addr = page(in, at, x.block(), x.offset());
                    byte[] delta = in.bytes(x.length());
                    if (dumpMemory || extractInto != null) { // only the page's content needs the base
                        load(addr);
                        try {
                            Xbzrle.decode(delta, x.length(), MemorySegment.ofArray(page));
                        } catch (Xbzrle.Malformed e) {
                            throw in.errorAt(at, "XBZRLE page at " + key(addr) + ": " + e.getMessage());
                        }
                        store(addr, true);
                    }
                    count(StreamStats.Kind.XBZRLE, in.offset() - at);
                }
                case RamRecord.MultifdFlush flush -> {
                    flushRecords = true;
                    run.write();
                    for (MultifdChannelDump channel : channels) { // current QEMU: the channels' pages up to their SYNC
                        channel.untilSync(lengths, this::channelPage);
                    }
                }
                case RamRecord.End end -> {
                    run.write();
                    if (!flushRecords) {
                        for (MultifdChannelDump channel : channels) { // 7.2: each channel's pages up to its SYNC come first
                            channel.untilSync(lengths, this::channelPage);
                        }
                    }
                    return;
                }
            }
        }
    }

    /** A page record's block becomes the current one; its offset must lie in the block as the block list gave it. */
    private long page(StreamReader in, long at, String block, long addr) throws MigrationException {
        name = block;
        Long len = lengths.get(name);
        if (len == null) {
            throw in.errorAt(at, "RAM record names block " + MigrationException.quote(name) + ", which the section's block list does not have");
        }
        if (addr < 0 || addr > len - PAGE) {
            throw in.errorAt(at, String.format("RAM record at 0x%x beyond block %s of length 0x%x", addr, MigrationException.quote(name), len));
        }
        return addr;
    }

    /** One page's data at the reader, of the current block at {@code addr}: kept, extracted or skipped. */
    private void pageData(StreamReader in, long addr) throws MigrationException {
        if (dumpMemory && extractInto == null) {
            keep(addr, in.view(PAGE)); // a view of a mapped stream: 1 GiB of pages costs no heap
        } else if (extractInto != null && !dumpMemory) {
            run.add(files.get(name), addr, in.view(PAGE));
        } else if (extractInto != null) {
            in.readFully(MemorySegment.ofArray(page));
            store(addr, true);
        } else {
            in.skip(PAGE);
        }
    }

    /**
     * mapped-ram (10.0; QEMU's script cannot read these files): the block's header, bitmap and page area follow
     * its MEM_SIZE entry; a page whose bit is set is dumped like a PAGE record, the others are zero and absent.
     */
    private void mappedBlock(StreamReader in, long len) throws MigrationException {
        var mapped = dev.livemig.ram.MappedRamBlock.read(in, name, len);
        for (long p = 0; p < len / PAGE; p++) {
            long at = in.offset();
            if (mapped.pages().get(p)) {
                pageData(in, p * PAGE);
                count(StreamStats.Kind.NORMAL, in.offset() - at);
            } else {
                in.skip(PAGE);
            }
        }
        run.write();
    }

    /** The configuration lists capability x-ignore-shared: block list entries carry their blocks' addresses. */
    void ignoreShared(boolean on) {
        records.blockAddresses(on);
    }

    /** The stream is a mapped-ram file: its configuration lists capability mapped-ram. */
    void mappedRam(boolean on) {
        this.mappedRam = on;
    }

    private void count(StreamStats.Kind kind, long bytes) {
        if (stats != null) {
            stats.page(name, kind, bytes);
        }
    }

    /** A page that came over a multifd channel: it names its own block; the main stream's CONTINUE state stays. */
    private void channelPage(String block, long offset, byte[] data, long wireBytes) throws MigrationException {
        String mainBlock = name;
        name = block;
        try {
            System.arraycopy(data, 0, page, 0, PAGE);
            if (dumpMemory || extractInto != null) {
                store(offset, true);
            }
            count(StreamStats.Kind.MULTIFD, wireBytes);
        } finally {
            name = mainBlock;
        }
    }

    /** "BLOCK (0x%016x)", without a Formatter: a memory dump makes one per page. */
    private String key(long addr) {
        String digits = Long.toHexString(addr);
        return name + " (0x" + "0".repeat(16 - digits.length()) + digits + ")";
    }

    /** {@code content} (never changed afterwards) is the page at addr: in the dump and as the XBZRLE base. */
    private void keep(long addr, MemorySegment content) {
        String key = key(addr);
        memory.put(key, new Json.HexBytes(content));
        pages.put(key, content);
    }

    private MemorySegment filledWith(int fill) {
        if (filled[fill] == null) {
            byte[] b = new byte[PAGE];
            java.util.Arrays.fill(b, (byte) fill);
            filled[fill] = MemorySegment.ofArray(b);
        }
        return filled[fill];
    }

    /** The current page becomes the content at addr: in the dump, the extracted file and the XBZRLE base. */
    private void store(long addr, boolean hexInDump) throws MigrationException {
        if (dumpMemory && hexInDump) {
            keep(addr, MemorySegment.ofArray(page.clone()));
        }
        if (extractInto != null) {
            run.write(); // it may hold this page's earlier content
            try {
                FileChannel f = files.get(name);
                ByteBuffer b = ByteBuffer.wrap(page);
                while (b.hasRemaining()) {
                    f.write(b, addr + b.position());
                }
            } catch (IOException e) {
                throw new MigrationException("cannot write " + MigrationException.quote(name) + ": " + MigrationException.reason(e), e);
            }
        }
    }

    /** The page's content so far (zero when never sent), as the base of an XBZRLE delta. */
    private void load(long addr) throws MigrationException {
        if (extractInto != null) {
            run.write();
            try {
                FileChannel f = files.get(name);
                ByteBuffer b = ByteBuffer.wrap(page);
                while (b.hasRemaining() && f.read(b, addr + b.position()) >= 0) {
                    // the file has the block's length: a short read only means "again"
                }
            } catch (IOException e) {
                throw new MigrationException("cannot read back " + MigrationException.quote(name) + ": " + MigrationException.reason(e), e);
            }
            return;
        }
        MemorySegment known = pages.get(key(addr));
        if (known != null) {
            MemorySegment.copy(known, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, page, 0, PAGE);
        } else {
            java.util.Arrays.fill(page, (byte) 0);
        }
    }

    private void openBlockFile(StreamReader in, long at, long len) throws MigrationException {
        Path file;
        try {
            file = extractInto.resolve("./" + name).normalize();
        } catch (java.nio.file.InvalidPathException e) {
            throw in.errorAt(at, "RAM block name '" + MigrationException.quote(name) + "' is not a file name: " + e.getReason());
        }
        if (!file.startsWith(extractInto.normalize()) || file.equals(extractInto.normalize())) {
            throw in.errorAt(at, "RAM block name '" + MigrationException.quote(name) + "' is not a file name inside " + extractInto);
        }
        try {
            printed.accept(MigrationException.quote(name));
            Files.createDirectories(file.getParent());
            FileChannel f = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.READ, StandardOpenOption.TRUNCATE_EXISTING);
            f.write(ByteBuffer.wrap(new byte[1]), len - 1); // the block's length, sparse, as truncate(len)
            FileChannel old = files.put(name, f);
            if (old != null) {
                old.close();
            }
        } catch (IOException e) {
            throw in.errorAt(at, "cannot create " + file + " for RAM block " + MigrationException.quote(name) + ": " + MigrationException.reason(e));
        }
    }

    /**
     * Pages bound for consecutive addresses of one extracted file, written with one gathering write: a stream's
     * pages mostly come in address order, and a system call per page was most of an extraction's time.
     */
    private static final class Run {
        private static final int MAX_PAGES = 512;
        private final ByteBuffer[] pages = new ByteBuffer[MAX_PAGES];
        private FileChannel file;
        private long start;
        private int count;

        /** {@code data} must not change until written (a view of the mapped stream, or a copy). */
        void add(FileChannel f, long addr, MemorySegment data) throws MigrationException {
            if (count > 0 && (f != file || addr != start + (long) count * PAGE || count == MAX_PAGES)) {
                write();
            }
            if (count == 0) {
                file = f;
                start = addr;
            }
            pages[count++] = data.asByteBuffer();
        }

        void write() throws MigrationException {
            if (count == 0) {
                return;
            }
            try {
                file.position(start);
                int first = 0;
                while (first < count) {
                    file.write(pages, first, count - first);
                    while (first < count && !pages[first].hasRemaining()) {
                        first++;
                    }
                }
            } catch (IOException e) {
                throw new MigrationException("cannot write an extracted RAM block: " + e.getMessage(), e);
            } finally {
                java.util.Arrays.fill(pages, 0, count, null);
                count = 0;
            }
        }
    }

    @Override
    public void close() {
        inflater.end();
        for (FileChannel f : files.values()) {
            try {
                f.close();
            } catch (IOException ignored) {
                // the data was written; closing a file we only wrote cannot lose it
            }
        }
    }
}
