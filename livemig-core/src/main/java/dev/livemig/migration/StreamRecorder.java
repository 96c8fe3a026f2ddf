package dev.livemig.migration;

import dev.livemig.machine.Machine;
import dev.livemig.machine.RamBlock;
import dev.livemig.multifd.MultifdReceiver;
import dev.livemig.ram.RamFlags;
import dev.livemig.ram.RamLoader;
import dev.livemig.ram.ZeroPageDetector;
import dev.livemig.savevm.ConfigurationRecord;
import dev.livemig.savevm.RamCeiling;
import dev.livemig.transport.HandshakeGate;
import dev.livemig.transport.IncomingListener;
import dev.livemig.transport.MigrationChannel;
import dev.livemig.transport.MigrationUri;
import dev.livemig.transport.Transports;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.format.MigrationCommand;
import dev.livemig.wire.format.MigrationCommands;
import dev.livemig.wire.format.StreamFraming;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.format.StreamRecord;
import dev.livemig.wire.StreamWriter;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The destination of a live migration from any QEMU-format source that keeps what arrives as a snapshot
 * file instead of running it ({@code livemig record}). It needs no knowledge of the source's devices: RAM
 * is loaded as it comes (main channel and, with multifd, the channels, synced at each RAM EOS as 7.2 does)
 * into blocks shaped by the stream's own block list; the first device section marks the end of the
 * iterative part, and from there every byte up to the end (device sections, EOF, vmdescription) is kept
 * verbatim. The file then holds the header, the configuration, one RAM section with the final content of
 * every page, and those bytes: a stream any QEMU 7.2 loads with {@code -incoming "exec:cat FILE"}.
 *
 * <p>A source with capability return-path is served as the real destination serves it
 * ({@link DestinationReturnPath}: PONG, SWITCHOVER_ACK when this configuration has switchover-ack, SHUT), and
 * SHUT(0) goes out only once the file is written, so the source completes only when the recording exists.
 * Such a source waits for SHUT with its connection open, so the recording ends at the vmdescription trailer
 * instead of at the end of the connection ({@link DeviceStateTail}).
 */
public final class StreamRecorder {
    private static final int MAX_TAIL = 256 << 20;

    private final MigrationConfig config;
    private final RamCeiling ceiling;
    private IncomingListener listener;

    /** What was recorded. */
    public record Result(String machineType, List<String> blocks, long ramPages, long nonZeroPages, long tailBytes) {
    }

    /** {@code config}: multifd and its parameters as the source has them; RAM up to the host's memory. */
    public StreamRecorder(MigrationConfig config) {
        this(config, RamCeiling.host());
    }

    /** {@code ceiling}: the most RAM a source may announce before it is refused (nothing allocated for it). */
    public StreamRecorder(MigrationConfig config, RamCeiling ceiling) {
        this.config = config;
        this.ceiling = ceiling;
    }

    /** Starts listening with the default handshake gate; returns the address (the real port for tcp port 0). */
    public MigrationUri listen(MigrationUri uri) throws MigrationException {
        return listen(uri, HandshakeGate.DEFAULT);
    }

    /**
     * Starts listening; a connection is taken only once it passed {@code gate} (a silent squatter is dropped and
     * the recorder keeps listening). Returns the address (the real port for tcp port 0).
     */
    public MigrationUri listen(MigrationUri uri, HandshakeGate gate) throws MigrationException {
        if (config.has(MigrationCapability.POSTCOPY_RAM) && config.has(MigrationCapability.MULTIFD)) {
            throw new MigrationConfigException("postcopy-ram together with multifd is not built yet in livemig record");
        }
        if (config.has(MigrationCapability.MULTIFD) && !(uri instanceof MigrationUri.Tcp || uri instanceof MigrationUri.Unix)) {
            throw new MigrationException("multifd needs a socket transport (tcp or unix), not " + uri);
        }
        listener = Transports.listen(uri, gate);
        return listener.address();
    }

    /** Stops listening: a {@link #record} still waiting for its source fails. */
    public void cancel() {
        IncomingListener l = listener;
        if (l != null) {
            l.close();
        }
    }

    /** Connections dropped before one was taken: silent ones, and ones whose TLS handshake failed. */
    public long refusedConnections() {
        IncomingListener l = listener;
        return l == null ? 0 : l.refusedConnections();
    }

    /**
     * As {@link #listen(MigrationUri, HandshakeGate)}, and with TLS when the configuration's tls-creds names server
     * credentials in {@code objects} (tls-authz an authorization there): a connection whose handshake fails is
     * dropped like a silent one.
     */
    public MigrationUri listen(MigrationUri uri, HandshakeGate gate, dev.livemig.transport.tls.UserObjects objects)
            throws MigrationException {
        var tls = config.resolveTls(objects, dev.livemig.transport.tls.TlsEndpoint.SERVER);
        return listen(uri, tls == null ? gate : gate.with(tls));
    }

    /** Takes one migration and writes it to {@code file} (only once it is complete). */
    public Result record(Path file) throws MigrationException {
        if (listener == null) {
            throw new IllegalStateException("listen first");
        }
        MigrationChannel main = null;
        DestinationReturnPath returnPath = null;
        Channels channels = new Channels();
        Machine machine = null;
        MultifdReceiver multifd = null;
        Thread acceptor = null;
        var preempt = new PreemptChannel();
        try {
            main = listener.accept();
            returnPath = new DestinationReturnPath(main, config.has(MigrationCapability.SWITCHOVER_ACK));
            if (config.has(MigrationCapability.MULTIFD)) {
                IncomingListener l = listener;
                acceptor = Thread.ofPlatform().name("livemig-record-accept").daemon().start(() -> {
                    try {
                        while (true) {
                            channels.add(l.accept());
                        }
                    } catch (MigrationException e) {
                        // closed: the recording ended
                    }
                });
            } else if (config.has(MigrationCapability.POSTCOPY_RAM) && config.has(MigrationCapability.POSTCOPY_PREEMPT)) {
                acceptor = drainPreempt(listener, preempt);
            } else {
                listener.close();
            }
            var in = new StreamReader(main);
            StreamFraming.readHeader(in);
            String machineType = ConfigurationRecord.readAny(in);
            RamLoader loader = null;
            int ramSection = -1;
            DeviceStateTail tail = new DeviceStateTail();
            var postcopy = new PostcopyIncoming(config.has(MigrationCapability.POSTCOPY_RAM));
            while (true) {
                long at = in.offset();
                StreamRecord record = StreamFraming.readRecord(in);
                if (record instanceof StreamRecord.SectionStart s && s.idstr().equals(RamFlags.IDSTR) && !s.full()) {
                    if (loader != null) {
                        throw in.errorAt(at, "a second RAM section start: section_id=" + s.sectionId());
                    }
                    in.section(RamFlags.IDSTR);
                    machine = shapedBy(in, machineType, ceiling);
                    loader = new RamLoader(machine.ramBlocks());
                    if (config.has(MigrationCapability.MULTIFD)) {
                        multifd = new MultifdReceiver((int) config.longValue(MigrationParameter.MULTIFD_CHANNELS),
                                config.text(MigrationParameter.MULTIFD_COMPRESSION), machine.ramBlocks(),
                                java.time.Duration.ofSeconds(10), null); // whatever UUID the source has, on every channel
                        channels.deliverTo(multifd);
                        loader.atSectionEnd(multifd::sync);
                    }
                    ramSection = s.sectionId();
                    loader.load(in, s.versionId());
                } else if (record instanceof StreamRecord.SectionContinue c && c.sectionId() == ramSection) {
                    in.section(RamFlags.IDSTR);
                    loader.load(in, RamFlags.SECTION_VERSION);
                } else if (record instanceof StreamRecord.SectionContinue c) {
                    throw in.errorAt(at, "continuation of section " + c.sectionId() + ", which is not RAM: livemig records RAM as the only iterative section");
                } else if (record instanceof StreamRecord.SectionStart s && !s.full()) {
                    throw in.errorAt(at, "iterative section " + MigrationException.quote(s.idstr()) + " is not RAM: livemig records RAM as the only iterative section");
                } else if (record instanceof StreamRecord.Command c) {
                    switch (MigrationCommands.decode(c, in, true)) {
                        case MigrationCommand.PostcopyAdvise a ->
                                postcopy.advise(a, machine == null ? List.of() : machine.ramBlocks(), in, at);
                        case MigrationCommand.PostcopyRamDiscard d -> postcopy.discard(d, blocksByName(machine), loader, in, at);
                        case MigrationCommand.Packaged p -> {
                            // the device state, then the rest of RAM on this stream up to EOF (no trailer)
                            PostcopyIncoming.Package pkg = postcopy.unpack(p, in, at);
                            tail.writeBytes(pkg.deviceSections());
                            for (int value : pkg.pings()) {
                                returnPath.pong(value, in);
                            }
                        }
                        case MigrationCommand.PostcopyListen l -> postcopy.outsidePackage(l, in, at);
                        case MigrationCommand.PostcopyRun r -> postcopy.outsidePackage(r, in, at);
                        default -> returnPath.onCommand(c, in); // answered as a destination answers, nothing kept
                    }
                    continue; // no footer follows a command
                } else if (record instanceof StreamRecord.Eof && postcopy.phase() == PostcopyIncoming.Phase.RUNNING) {
                    // postcopy ends with EOF and no trailer; the device state came in the package
                    var w = new StreamWriter(java.nio.channels.Channels.newChannel(tail), 16);
                    StreamFraming.writeEof(w);
                    w.flush();
                    if (loader.pagesOwed() > 0) {
                        throw in.errorAt(at, loader.pagesOwed() + " pages discarded at the switch to postcopy never came again (first: "
                                + loader.firstPageOwed() + ")");
                    }
                    break;
                } else if (postcopy.phase() == PostcopyIncoming.Phase.RUNNING) {
                    throw in.errorAt(at, "after the postcopy package only RAM sections and EOF may follow, not " + record);
                } else { // EOF or a device section
                    // the non-iterative part: kept as it came, re-framed from here
                    var w = new StreamWriter(java.nio.channels.Channels.newChannel(tail), 4096);
                    if (record instanceof StreamRecord.SectionStart s) {
                        StreamFraming.writeSectionStart(w, true, s.sectionId(), s.idstr(), s.instanceId(), s.versionId());
                    } else {
                        StreamFraming.writeEof(w);
                    }
                    w.flush();
                    in.section("device state");
                    boolean sourceAwaitsShut = returnPath.isOpen();
                    while (!(sourceAwaitsShut && tail.endsWithTrailer()) && !in.atEnd()) {
                        if (tail.size() >= MAX_TAIL) {
                            throw in.error("more than " + MAX_TAIL + " bytes after the RAM sections");
                        }
                        tail.write(in.u8());
                    }
                    break;
                }
                if (in.peek(0) == dev.livemig.wire.format.WireFormat.SECTION_FOOTER) {
                    in.u8();
                    in.be32();
                }
            }
            if (loader == null) {
                throw new MigrationException("the stream ended without a RAM section: nothing to record");
            }
            if (preempt.failure != null) {
                throw new MigrationException(preempt.failure);
            }
            if (multifd != null) {
                multifd.checkNothingAfterLastSync(); // a page that came after the last sync would be missing
            }
            Result result = write(file, machineType, ramSection, machine, tail.toByteArray());
            returnPath.succeeded();
            return result;
        } catch (MigrationException | RuntimeException e) {
            if (returnPath != null) {
                returnPath.failed();
            }
            throw e;
        } finally {
            MigrationChannel.closeQuietly(main);
            MigrationChannel.closeQuietly(preempt.channel);
            listener.close();
            channels.closeAll();
            if (multifd != null) {
                multifd.close();
            }
            if (acceptor != null) {
                try {
                    acceptor.join(5_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            if (machine != null) {
                machine.close();
            }
        }
    }

    /** The postcopy-preempt connection, once accepted, and what was wrong on it. */
    private static final class PreemptChannel {
        volatile MigrationChannel channel;
        volatile String failure;
    }

    /**
     * postcopy-preempt: takes the second connection (silent until a page is asked for) and reads it to its end.
     * A recording asks for no page, so the only thing that may come is 7.2's closing EOS; anything else fails the
     * recording, since a page there would be missing from it.
     */
    private static Thread drainPreempt(IncomingListener listener, PreemptChannel preempt) {
        return Thread.ofPlatform().name("livemig-record-preempt").daemon().start(() -> {
            try {
                preempt.channel = listener.acceptSilent();
                var in = new StreamReader(preempt.channel);
                in.section("postcopy preempt");
                if (!in.atEnd()) {
                    long word = in.be64();
                    if (word != RamFlags.EOS || !in.atEnd()) {
                        preempt.failure = in.errorAt(0, String.format("a RAM record (0x%x) on the postcopy-preempt channel:"
                                + " livemig record asks for no page, so none may come there", word)).getMessage();
                    }
                }
            } catch (MigrationException e) {
                // the recording ended (listener or channel closed) before the source connected or finished it
            } finally {
                listener.close();
            }
        });
    }

    private static java.util.Map<String, RamBlock> blocksByName(Machine machine) {
        var out = new java.util.HashMap<String, RamBlock>();
        if (machine != null) {
            machine.ramBlocks().forEach(b -> out.put(b.name(), b));
        }
        return out;
    }

    /** Reads the MEM_SIZE block list that opens the RAM section and allocates its blocks; the loader reads on from there. */
    private static Machine shapedBy(StreamReader in, String machineType, RamCeiling ceiling) throws MigrationException {
        var b = Machine.builder(machineType);
        for (var block : dev.livemig.ram.RamBlockList.readOpening(in, ceiling::admit)) {
            b.ram(block.name(), block.length());
        }
        return b.build();
    }

    private static Result write(Path file, String machineType, int ramSection, Machine machine, byte[] tail)
            throws MigrationException {
        Path tmp = file.resolveSibling(file.getFileName() + ".part");
        long pages = 0;
        long nonZero = 0;
        try (FileChannel ch = dev.livemig.savevm.GuestMemoryFile.openPartial(tmp)) {
            var out = new StreamWriter(ch);
            StreamFraming.writeHeader(out);
            ConfigurationRecord.write(out, machineType, List.of());
            StreamFraming.writeSectionStart(out, false, ramSection, RamFlags.IDSTR, 0, RamFlags.SECTION_VERSION);
            long total = machine.ramBlocks().stream().mapToLong(RamBlock::usedLength).sum();
            out.be64(total | RamFlags.MEM_SIZE);
            for (RamBlock b : machine.ramBlocks()) {
                out.str8(b.name()).be64(b.usedLength());
            }
            out.be64(RamFlags.EOS);
            StreamFraming.writeFooter(out, ramSection);
            StreamFraming.writeSectionContinue(out, true, ramSection);
            for (RamBlock b : machine.ramBlocks()) {
                boolean named = false;
                for (long off = 0; off < b.usedLength(); off += RamBlock.TARGET_PAGE_SIZE) {
                    var page = b.page(off);
                    boolean zero = ZeroPageDetector.isZero(page);
                    long word = off | (zero ? RamFlags.ZERO : RamFlags.PAGE) | (named ? RamFlags.CONTINUE : 0);
                    out.be64(word);
                    if (!named) {
                        out.str8(b.name());
                        named = true;
                    }
                    if (zero) {
                        out.u8(0);
                    } else {
                        out.copy(page);
                        nonZero++;
                    }
                    pages++;
                }
            }
            out.be64(RamFlags.EOS);
            StreamFraming.writeFooter(out, ramSection);
            out.bytes(tail);
            out.flush();
            try {
                dev.livemig.savevm.GuestMemoryFile.commit(ch, tmp, file);
            } catch (IOException e) {
                throw new MigrationException("cannot move " + tmp + " to " + file + ": " + MigrationException.reason(e), e);
            }
        } catch (IOException e) {
            throw new MigrationException("cannot write " + tmp + ": " + MigrationException.reason(e), e);
        }
        return new Result(machineType, machine.ramBlocks().stream().map(RamBlock::name).toList(), pages, nonZero, tail.length);
    }

    /** Multifd connections that may arrive before the RAM blocks exist to receive them. */
    private static final class Channels {
        private final List<MigrationChannel> waiting = new ArrayList<>();
        private final List<MigrationChannel> all = new ArrayList<>();
        private MultifdReceiver receiver;
        private boolean closed;

        synchronized void add(MigrationChannel c) {
            if (closed) {
                MigrationChannel.closeQuietly(c);
                return;
            }
            all.add(c);
            if (receiver != null) {
                receiver.add(c);
            } else {
                waiting.add(c);
            }
        }

        synchronized void deliverTo(MultifdReceiver r) {
            receiver = r;
            waiting.forEach(r::add);
            waiting.clear();
        }

        synchronized void closeAll() {
            closed = true;
            all.forEach(MigrationChannel::closeQuietly);
        }
    }
}
