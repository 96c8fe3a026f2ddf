package dev.livemig.postcopy;

import dev.livemig.linux.UnixSocket;
import dev.livemig.linux.Userfaultfd;
import dev.livemig.machine.DirtyBitmap;
import dev.livemig.machine.RamBlock;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The guest side of a {@link PageServer}: starts it as a child JVM of the same build, hands it the guest's
 * userfaultfd and the stream at POSTCOPY_LISTEN, passes on the PONGs the guest owes, and learns the outcome.
 * Started early (a JVM takes a few hundred milliseconds to start) so that the switch does not wait for it.
 *
 * <p>One thread at a time. {@link #close} ends the child whatever it was doing.
 */
public final class PageServerProcess implements AutoCloseable {
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(30);

    private final Path dir;
    private final Process process;
    private final UnixSocket control;
    /** migrate-recover's answers, read by the thread in awaitOutcome and taken by recover. */
    private final java.util.concurrent.BlockingQueue<ControlMessage.Listening> listening = new java.util.concurrent.LinkedBlockingQueue<>();

    private PageServerProcess(Path dir, Process process, UnixSocket control) {
        this.dir = dir;
        this.process = process;
        this.control = control;
    }

    /** Starts a page server and waits until it is connected. */
    public static PageServerProcess start() throws IOException {
        Path dir = Files.createTempDirectory("livemig-pageserver-",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        Path socketPath = dir.resolve("control.sock");
        Process process = null;
        try (UnixSocket.Server server = UnixSocket.listen(socketPath)) {
            process = new ProcessBuilder(command(socketPath)).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectError(ProcessBuilder.Redirect.INHERIT).start(); // stdout may be a protocol (JSON lines)
            UnixSocket control = server.accept((int) CONNECT_TIMEOUT.toMillis());
            if (control == null) {
                throw new IOException("the postcopy page server did not connect within " + CONNECT_TIMEOUT.toSeconds()
                        + " s" + (process.isAlive() ? "" : " (it exited with status " + process.exitValue() + ")"));
            }
            return new PageServerProcess(dir, process, control);
        } catch (IOException | RuntimeException e) {
            if (process != null) {
                process.destroyForcibly();
            }
            Files.deleteIfExists(socketPath);
            Files.deleteIfExists(dir);
            throw e;
        }
    }

    /** This JVM's java, class or module path, and native access, running {@link PageServer}. */
    private static List<String> command(Path socket) {
        var cmd = new ArrayList<String>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-Xmx256m");
        cmd.add("-XX:+UseSerialGC");
        // C1 only: the fault path runs a few thousand times in a postcopy phase of seconds, never long enough to
        // pay back C2's compile bursts, which on a small host delay it more than C1's code slows it (measured:
        // fault latency p99 2.0-2.3 ms against 2.7-3.4 ms, blocktime -20 %; docs/benchmarks.md)
        cmd.add("-XX:TieredStopAtLevel=1");
        String extra = System.getenv("LIVEMIG_PAGESERVER_JAVA_OPTS"); // e.g. a profiler or JIT flags for this process
        if (extra != null && !extra.isBlank()) {
            cmd.addAll(List.of(extra.trim().split("\\s+")));
        }
        Module module = PageServer.class.getModule();
        if (module.isNamed()) {
            cmd.addAll(List.of("--enable-native-access=" + module.getName(), "--module-path",
                    System.getProperty("jdk.module.path"), "-m", module.getName() + "/" + PageServer.class.getName()));
        } else {
            cmd.addAll(List.of("--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                    PageServer.class.getName()));
        }
        cmd.add(socket.toString());
        return cmd;
    }

    /**
     * POSTCOPY_LISTEN: hands over the userfaultfd (its ranges registered for missing pages), the stream, a tcp or
     * unix socket channel (from now on the server's to read and the return path its to write; reaching its
     * descriptor needs {@link dev.livemig.linux.SocketChannelDescriptor#OPTION}) with the bytes already read past
     * the package, and per block the pages that have not arrived ({@code missing}, one bit per target page).
     */
    public synchronized void handOver(Userfaultfd uffd, java.nio.channels.SocketChannel stream, byte[] leftover, int ramSectionId,
                         List<RamBlock> blocks, List<DirtyBitmap> missing, Recoverable recoverable) throws IOException {
        control.sendDescriptors(uffd, stream);
        describe(uffd, leftover, ramSectionId, blocks, missing, recoverable);
    }

    /**
     * How the server awaits a source that resumes after a cut: by itself on {@code address} (the incoming address,
     * re-listened on; empty: only where migrate-recover says), with a preempt channel after the main one when
     * {@code preempt}.
     */
    public record Recoverable(String address, boolean preempt) {
    }

    private void describe(Userfaultfd uffd, byte[] leftover, int ramSectionId, List<RamBlock> blocks,
                          List<DirtyBitmap> missing, Recoverable recoverable) throws IOException {
        var described = new ArrayList<ControlMessage.Block>();
        var words = new ArrayList<long[]>();
        for (int i = 0; i < blocks.size(); i++) {
            RamBlock b = blocks.get(i);
            described.add(new ControlMessage.Block(b.name(), b.memory().address(), b.usedLength()));
            DirtyBitmap bits = missing.get(i);
            long[] w = new long[(int) ((bits.size() + 63) / 64)];
            for (long page = bits.nextSet(0); page >= 0; page = bits.nextSet(page + 1)) {
                w[(int) (page >>> 6)] |= 1L << (page & 63);
            }
            words.add(w);
        }
        ControlMessage.write(control, new ControlMessage.Setup(uffd.features(), ramSectionId, described, words,
                recoverable.address(), recoverable.preempt()));
        ControlMessage.write(control, new ControlMessage.Leftover(leftover));
    }

    /** A PING the guest met in the package: the server answers it on the return path. */
    public synchronized void pong(int value) throws IOException {
        ControlMessage.write(control, new ControlMessage.Pong(value));
    }

    /**
     * postcopy-preempt: the channel requested pages come on (a tcp or unix socket), after {@link #handOver}; from
     * now on the server's to read.
     */
    public synchronized void preempt(java.nio.channels.SocketChannel channel) throws IOException {
        ControlMessage.write(control, new ControlMessage.Preempt());
        control.sendDescriptors(channel);
    }

    /** What the server reports once the stream ended: {@link ControlMessage.Done} or {@link ControlMessage.Failed}. */
    public Outcome awaitOutcome() throws IOException {
        return awaitOutcome(new Recovery() {
            @Override
            public void paused(String reason) {
                // without a listener a cut link stays paused until the guest gives up (close)
            }

            @Override
            public void resumed() {
            }
        });
    }

    /** What the guest hears of a cut link while it waits for the outcome (format reference §12.6). */
    public interface Recovery {
        /** The link failed; the server waits for the source to resume. */
        void paused(String reason);

        /** The source reconnected; the recovery handshake runs. */
        default void recovering() {
        }

        /** The recovered channel carried POSTCOPY_RESUME. */
        void resumed();
    }

    /** As {@link #awaitOutcome()}, telling {@code recovery} of every pause and resume on the way. */
    public Outcome awaitOutcome(Recovery recovery) throws IOException {
        while (true) {
            switch (ControlMessage.read(control)) {
                case ControlMessage.Done d -> {
                    return new Outcome(null, d.pagesPlaced(), d.pagesOnPreempt(), d.figures());
                }
                case ControlMessage.Failed f -> {
                    return new Outcome(f.message(), 0, 0, null);
                }
                case ControlMessage.Paused p -> recovery.paused(p.reason());
                case ControlMessage.Recovering r -> recovery.recovering();
                case ControlMessage.Resumed r -> recovery.resumed();
                case ControlMessage.Listening l -> listening.add(l);
                case ControlMessage other -> throw new IOException("unexpected message from the page server: " + other);
            }
        }
    }

    /**
     * migrate-recover: the server listens on {@code uri} for the source that resumes; returns the address (the
     * real port for tcp port 0). Its answer is read by the thread in {@link #awaitOutcome(Recovery)}.
     */
    public String recover(String uri) throws IOException {
        synchronized (this) {
            ControlMessage.write(control, new ControlMessage.Recover(uri));
        }
        try {
            ControlMessage.Listening l = listening.poll(CONNECT_TIMEOUT.toSeconds(), java.util.concurrent.TimeUnit.SECONDS);
            if (l == null) {
                throw new IOException("the page server did not answer migrate-recover within " + CONNECT_TIMEOUT.toSeconds() + " s");
            }
            if (!l.error().isEmpty()) {
                throw new IOException(l.error());
            }
            return l.address();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    /**
     * The end of the stream as the page server saw it: {@code failure} null when every page arrived, then the
     * pages it placed (of them, those that came on the postcopy-preempt channel) and what it measured of the
     * guest's faults.
     */
    public record Outcome(String failure, long pagesPlaced, long pagesOnPreempt, FaultFigures faults) {
    }

    /** The guest's last word: SHUT({@code status}) on the return path; then the server exits. */
    public synchronized void shut(int status) throws IOException {
        ControlMessage.write(control, new ControlMessage.Shut(status));
    }

    @Override
    public void close() {
        control.close();
        try {
            if (!process.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        try {
            Files.deleteIfExists(dir.resolve("control.sock"));
            Files.deleteIfExists(dir);
        } catch (IOException ignored) {
            // a temporary directory left behind
        }
    }
}
