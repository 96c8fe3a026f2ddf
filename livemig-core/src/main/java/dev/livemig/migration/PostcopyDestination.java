package dev.livemig.migration;

import dev.livemig.linux.Userfaultfd;
import dev.livemig.machine.DirtyBitmap;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RamBlock;
import dev.livemig.postcopy.PageServer;
import dev.livemig.postcopy.PageServerProcess;
import dev.livemig.ram.RamFlags;
import dev.livemig.transport.MigrationChannel;
import dev.livemig.savevm.LoadVm;
import dev.livemig.savevm.StandardSections;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.format.MigrationCommand;
import dev.livemig.wire.format.MigrationCommands;
import dev.livemig.wire.format.StreamRecord;

import java.io.IOException;
import java.nio.channels.SocketChannel;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * A livemig destination's side of postcopy (format reference §12.4; the design in docs/architecture.md,
 * "Postcopy"): the commands in QEMU's order ({@link PostcopyIncoming}); ADVISE starts the page server, DISCARD
 * drops pages that will come again; the package is loaded record by record, its POSTCOPY_LISTEN registering the
 * guest's RAM with userfaultfd and handing the stream over to the page server, its PINGs answered through it, its
 * POSTCOPY_RUN starting the guest. From there this JVM reads nothing more of the stream: the load ends and
 * {@link #awaitEnd} waits for the page server's word on the rest.
 *
 * <p>Used by the load thread only; {@link #close} from it too, whatever the outcome.
 */
final class PostcopyDestination implements LoadVm.CommandHandler, AutoCloseable {
    private final Machine machine;
    private final DestinationReturnPath returnPath;
    private final MigrationChannel stream;
    private final StreamReader in;
    private final Runnable onListen;
    private final Runnable onRun;
    private final String recoverAddress;   // where the page server awaits a resuming source by itself ("" none)
    private final boolean preemptExpected;
    private final PostcopyIncoming states = new PostcopyIncoming(true);
    private final Map<String, RamBlock> blocks = new HashMap<>();
    private LoadVm load;
    private CompletableFuture<PageServerProcess> server;
    private Userfaultfd uffd;
    private volatile boolean handedOff;
    private MigrationChannel preempt;      // guarded by this: postcopy-preempt's channel, once accepted
    private boolean preemptPassedOn;      // guarded by this

    /**
     * {@code stream} and {@code in}: the main channel's socket and the reader of it; {@code onListen} and
     * {@code onRun} move the migration's status and start the guest.
     */
    PostcopyDestination(Machine machine, DestinationReturnPath returnPath, MigrationChannel stream, StreamReader in,
                        Runnable onListen, Runnable onRun, String recoverAddress, boolean preemptExpected) {
        this.recoverAddress = recoverAddress;
        this.preemptExpected = preemptExpected;
        this.machine = machine;
        this.returnPath = returnPath;
        this.stream = stream;
        this.in = in;
        this.onListen = onListen;
        this.onRun = onRun;
        machine.ramBlocks().forEach(b -> blocks.put(b.name(), b));
    }

    /** The load whose devices the package's sections go to; set before it starts. */
    void loadWith(LoadVm load) {
        this.load = load;
    }

    @Override
    public boolean handedOff() {
        return handedOff;
    }

    @Override
    public void onCommand(StreamRecord.Command raw, StreamReader at) throws MigrationException {
        long offset = Math.max(0, at.offset() - 5 - raw.data().length);
        switch (MigrationCommands.decode(raw, at, true)) {
            case MigrationCommand.PostcopyAdvise advise -> {
                states.advise(advise, machine.ramBlocks(), at, offset);
                for (RamBlock b : machine.ramBlocks()) {
                    if (!b.isAnonymous()) {
                        throw at.errorAt(offset, "postcopy needs anonymous guest RAM; block " + b.name() + " is memory the application provided");
                    }
                    // QEMU drops all RAM here; livemig keeps what a waiting destination faulted in (first touch is
                    // the load's largest cost) and drops at LISTEN exactly the pages that are still missing
                }
                server = CompletableFuture.supplyAsync(() -> { // a JVM starts while precopy goes on
                    try {
                        return PageServerProcess.start();
                    } catch (IOException e) {
                        throw new CompletionException(e);
                    }
                }, r -> Thread.ofPlatform().name("livemig-pageserver-start").daemon().start(r));
            }
            case MigrationCommand.PostcopyRamDiscard discard -> {
                states.discard(discard, blocks, StandardSections.of(machine).ram().incoming(), at, offset);
                RamBlock b = blocks.get(discard.block());
                for (MigrationCommand.Range r : discard.ranges()) {
                    b.release(r.start(), r.length()); // outdated here: it must fault until it comes again
                }
            }
            case MigrationCommand.Packaged packaged -> {
                states.checkPackage(packaged, at, offset);
                byte[] bytes = at.bytes((int) packaged.length());
                load.loadPackage(bytes); // LISTEN hands the stream over, RUN starts the guest
                if (!handedOff) {
                    throw at.errorAt(offset, "a postcopy package without POSTCOPY_LISTEN");
                }
            }
            case MigrationCommand.PostcopyListen listen -> {
                states.listen(at, offset);
                listen();
            }
            case MigrationCommand.PostcopyRun run -> {
                states.run(at, offset);
                onRun.run();
            }
            case MigrationCommand.Ping ping when handedOff -> {
                try {
                    pageServer().pong(ping.value()); // the page server writes the return path now
                } catch (IOException e) {
                    throw at.errorAt(offset, "PING(" + ping.value() + "): the page server went away: " + e.getMessage());
                }
            }
            default -> returnPath.onCommand(raw, at);
        }
    }

    /**
     * postcopy-preempt: the second connection, accepted whenever it came (at the start of the migration in 7.2's
     * form, at the switch in current QEMU's); passed on to the page server once it has the stream.
     */
    synchronized void preemptChannel(MigrationChannel channel) throws MigrationException {
        if (preempt != null) {
            MigrationChannel.closeQuietly(channel);
            throw new MigrationException("a third connection in postcopy-preempt from " + channel.describe());
        }
        preempt = channel;
        if (handedOff) {
            passOnPreempt();
        }
    }

    private void passOnPreempt() throws MigrationException {
        if (preempt == null || preemptPassedOn) {
            return;
        }
        SocketChannel socket = preempt.socket().orElseThrow(() -> new MigrationException(
                "postcopy-preempt needs a tcp or unix channel, not " + preempt.describe()));
        try {
            pageServer().preempt(socket);
        } catch (IOException e) {
            throw new MigrationException("postcopy-preempt: the page server went away: " + e.getMessage(), e);
        }
        preemptPassedOn = true;
    }

    /**
     * migrate-recover: the page server listens on {@code uri} for the source that resumes after a cut (format
     * reference §12.6); returns where. The page server, not this JVM, accepts: a guest thread waiting for a page
     * may hold this JVM at a safepoint until the page comes.
     */
    String recover(String uri) throws MigrationException {
        try {
            return pageServer().recover(uri);
        } catch (IOException e) {
            throw new MigrationException("migrate-recover on " + uri + ": " + e.getMessage(), e);
        }
    }

    /** migrate-pause: cuts the link on purpose; the page server pauses as for any cut. */
    synchronized void cut() {
        MigrationChannel.cut(stream);
        MigrationChannel.cut(preempt);
    }

    /**
     * A page that has not arrived must not be there when userfaultfd takes over: a guest thread would read what it
     * held (zeros of the prefault, or older data) instead of faulting, and the page server could not place it.
     */
    private static void dropMissing(RamBlock block, DirtyBitmap missing) throws MigrationException {
        long first = missing.nextSet(0);
        while (first >= 0) {
            long end = missing.nextClear(first); // the size when the run goes to the end
            if (!block.release(first * RamBlock.TARGET_PAGE_SIZE, (end - first) * RamBlock.TARGET_PAGE_SIZE)) {
                throw new MigrationException("postcopy cannot start here: pages of block " + block.name() + " could not be dropped");
            }
            first = missing.nextSet(end);
        }
    }

    /** POSTCOPY_LISTEN: RAM registered for missing pages, the stream and what is missing handed to the page server. */
    private void listen() throws MigrationException {
        int ramSection = load.startedSectionId(RamFlags.IDSTR);
        if (ramSection < 0) {
            throw new MigrationException("POSTCOPY_LISTEN before any RAM section");
        }
        List<RamBlock> ram = machine.ramBlocks();
        var missing = StandardSections.of(machine).ram().incoming().missing(ram);
        StandardSections.of(machine).ram().stopPrefault();
        for (int i = 0; i < ram.size(); i++) {
            dropMissing(ram.get(i), missing.get(i));
        }
        try {
            uffd = Userfaultfd.openMissing();
            for (RamBlock b : ram) {
                uffd.registerMissing(b.memory());
            }
            SocketChannel socket = stream.socket().orElseThrow(() -> new MigrationException(
                    "postcopy-ram needs a tcp or unix migration channel, not " + stream.describe()));
            PageServer.shallowReceiveQueue(socket); // the pages in flight ahead of a fault
            pageServer().handOver(uffd, socket, in.takeBuffered(), ramSection, ram, missing,
                    new PageServerProcess.Recoverable(recoverAddress, preemptExpected));
        } catch (MigrationException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new MigrationException("postcopy cannot start here: " + (e.getMessage() == null ? e : e.getMessage()), e);
        }
        synchronized (this) {
            handedOff = true;
            passOnPreempt(); // if it came before LISTEN
        }
        onListen.run();
    }

    private PageServerProcess pageServer() throws MigrationException {
        try {
            return server.join();
        } catch (CompletionException e) {
            throw new MigrationException("the postcopy page server did not start: " + e.getCause().getMessage(), e.getCause());
        }
    }

    /**
     * After the load handed off: waits for the page server's outcome, then has it send SHUT. Returns the figures;
     * throws when a page never arrived or the stream failed.
     */
    PageServerProcess.Outcome awaitEnd(PageServerProcess.Recovery recovery) throws MigrationException {
        try {
            PageServerProcess.Outcome outcome = pageServer().awaitOutcome(recovery);
            pageServer().shut(outcome.failure() == null ? 0 : 1);
            if (outcome.failure() != null) {
                throw new MigrationException("postcopy: " + outcome.failure());
            }
            return outcome;
        } catch (IOException e) {
            throw new MigrationException("the postcopy page server went away: " + e.getMessage(), e);
        }
    }

    /** A failure before or after the hand-off: SHUT(1) through whoever holds the return path. */
    void failed() {
        if (!handedOff) {
            returnPath.failed();
            return;
        }
        try {
            pageServer().shut(1);
        } catch (IOException | MigrationException | RuntimeException ignored) {
            // the source learns it from the closed connection
        }
    }

    /** Ends the page server and releases the userfaultfd (every page is there, or the migration failed). */
    @Override
    public void close() {
        if (server != null) {
            server.thenAccept(PageServerProcess::close);
            try {
                server.join();
            } catch (CompletionException ignored) {
                // it never started
            }
        }
        if (uffd != null) {
            uffd.close();
        }
        synchronized (this) {
            MigrationChannel.closeQuietly(preempt);
        }
    }
}
