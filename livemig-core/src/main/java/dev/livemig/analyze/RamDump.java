package dev.livemig.analyze;

import dev.livemig.json.Json;
import dev.livemig.machine.RamBlock;
import dev.livemig.ram.CompressedPage;
import dev.livemig.ram.RamFlags;
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

    /** One RAM section body, up to and including its EOS. */
    void read(StreamReader in) throws MigrationException {
        while (true) {
            long at = in.offset();
            long word = in.be64();
            long flags = word & (PAGE - 1);
            long addr = word & ~(long) (PAGE - 1);
            if ((flags & RamFlags.MEM_SIZE) != 0) {
                // the ceiling admits each block before a block-sized file is made for it
                dev.livemig.ram.RamBlockList.read(in, at, addr, ceiling::admit, (stream, entry, entryAt) -> {
                    name = entry.name();
                    sizes.put(name, String.format("0x%016x", entry.length()));
                    lengths.put(name, entry.length());
                    if (extractInto != null) {
                        openBlockFile(stream, at, entry.length());
                    }
                    if (mappedRam) {
                        mappedBlock(stream, entry.length());
                    }
                });
                flags &= ~RamFlags.MEM_SIZE;
            }
            if ((flags & (RamFlags.ZERO | RamFlags.PAGE | RamFlags.XBZRLE | RamFlags.COMPRESS_PAGE)) != 0) {
                if ((flags & RamFlags.CONTINUE) != 0) {
                    flags &= ~RamFlags.CONTINUE;
                } else {
                    name = in.str8();
                }
                Long len = lengths.get(name);
                if (len == null) {
                    throw in.errorAt(at, "RAM record names block " + MigrationException.quote(name) + ", which the section's block list does not have");
                }
                if (addr < 0 || addr > len - PAGE) {
                    throw in.errorAt(at, String.format("RAM record at 0x%x beyond block %s of length 0x%x", addr, MigrationException.quote(name), len));
                }
            }
            if ((flags & RamFlags.ZERO) != 0) {
                int fill = in.u8();
                if (dumpMemory) {
                    String key = key(addr);
                    memory.put(key, new Json.Str(String.format("Filled with 0x%02x", fill)));
                    pages.put(key, filledWith(fill));
                }
                if (extractInto != null) {
                    java.util.Arrays.fill(page, (byte) fill);
                    store(addr, false); // a later pass may zero a page that held data: the file must say so
                }
                flags &= ~RamFlags.ZERO;
                count(StreamStats.Kind.ZERO, in.offset() - at);
            } else if ((flags & RamFlags.PAGE) != 0) {
                pageData(in, addr);
                flags &= ~RamFlags.PAGE;
                count(StreamStats.Kind.NORMAL, in.offset() - at);
            } else if ((flags & RamFlags.COMPRESS_PAGE) != 0) {
                long lenAt = in.offset();
                int n = in.be32();
                if (n < 0 || n > CompressedPage.MAX_LENGTH) {
                    throw in.errorAt(lenAt, "compressed page of " + Integer.toUnsignedString(n) + " bytes: more than "
                            + CompressedPage.MAX_LENGTH);
                }
                byte[] data = in.bytes(n);
                try {
                    CompressedPage.decode(data, n, inflater, MemorySegment.ofArray(page));
                } catch (CompressedPage.Malformed e) {
                    throw in.errorAt(lenAt, "compressed page at " + key(addr) + ": " + e.getMessage());
                }
                store(addr, true);
                flags &= ~RamFlags.COMPRESS_PAGE;
                count(StreamStats.Kind.COMPRESSED, in.offset() - at);
            } else if ((flags & RamFlags.XBZRLE) != 0) {
                long encAt = in.offset();
                int encoding = in.u8();
                if (encoding != RamFlags.ENCODING_XBZRLE) {
                    throw in.errorAt(encAt, "unknown XBZRLE encoding " + encoding);
                }
                int n = in.be16();
                byte[] delta = in.bytes(n);
                if (dumpMemory || extractInto != null) { // only the page's content needs the base
                    load(addr);
                    try {
                        Xbzrle.decode(delta, n, MemorySegment.ofArray(page));
                    } catch (Xbzrle.Malformed e) {
                        throw in.errorAt(encAt, "XBZRLE page at " + key(addr) + ": " + e.getMessage());
                    }
                    store(addr, true);
                }
                flags &= ~RamFlags.XBZRLE;
                count(StreamStats.Kind.XBZRLE, in.offset() - at);
            } else if ((flags & RamFlags.HOOK) != 0) {
                throw in.errorAt(at, "RAM hooks don't make sense with files");
            }
            if ((flags & RamFlags.MULTIFD_FLUSH) != 0) {
                flushRecords = true;
                run.write();
                for (MultifdChannelDump channel : channels) { // current QEMU: the channels' pages up to their SYNC
                    channel.untilSync(lengths, this::channelPage);
                }
            }
            flags &= ~RamFlags.MULTIFD_FLUSH;
            if ((flags & RamFlags.EOS) != 0) {
                run.write();
                if (!flushRecords) {
                    for (MultifdChannelDump channel : channels) { // 7.2: each channel's pages up to its SYNC come first
                        channel.untilSync(lengths, this::channelPage);
                    }
                }
                return;
            }
            if (flags != 0) {
                throw in.errorAt(at, String.format("Unknown RAM flags: %x", flags));
            }
        }
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
