package dev.livemig.qemu;

import dev.livemig.json.Json;
import dev.livemig.qmp.QmpClient;
import dev.livemig.qmp.QmpError;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * One headless {@code qemu-system-x86_64} (TCG) driven over QMP, for interop tests against QEMU 7.2 or 10.0
 * ({@link QemuOptions#version()}).
 *
 * <p>Command line (see docs/qemu-7.2-notes.md for why each flag is there):
 * {@code qemu-system-x86_64 -machine M -m SIZE -accel tcg -nodefaults -no-user-config -display none
 * -rtc base=2020-01-01T00:00:00,clock=vm -qmp unix:DIR/qmp.sock,server=on,wait=off [-S] [-incoming URI]
 * [-device loader,...] [extra]}. With these flags a paused guest's snapshot holds the same state from run to
 * run; only how QEMU splits RAM into iteration sections depends on timing (see QemuProcessTest).
 *
 * <p>Every wait is bounded; every failure is a {@link QemuException} (or {@link QmpError}) whose message ends
 * with the tail of QEMU's stderr log. {@link #close()} asks QEMU to quit, then kills it and any child it
 * spawned (the {@code exec:} migration helpers), and removes the temporary directory: no process is left
 * behind. Not thread-safe: one test drives one process.
 */
public final class QemuProcess implements AutoCloseable {
    public static final String BINARY = "qemu-system-x86_64";
    /** Flags that make the guest headless and its device state reproducible; exposed for the notes and tests. */
    public static final List<String> FIXED_ARGS = List.of("-accel", "tcg", "-nodefaults", "-no-user-config",
            "-display", "none", "-rtc", "base=2020-01-01T00:00:00,clock=vm");
    private static final Duration QUIT_GRACE = Duration.ofSeconds(5);
    private static final Duration MIGRATION_TIMEOUT = Duration.ofSeconds(30);
    private static final int LOG_TAIL_CHARS = 4000;

    private final QemuOptions options;
    private final Path dir;
    private final Path log;
    private final List<String> command;
    private final Process process;
    private QmpClient qmp;

    private QemuProcess(QemuOptions options, Path dir, List<String> command, Process process) {
        this.options = options;
        this.dir = dir;
        this.log = dir.resolve("qemu.log");
        this.command = command;
        this.process = process;
    }

    /** Whether {@value #BINARY} is an executable file on PATH. */
    public static boolean available() {
        String path = System.getenv("PATH");
        if (path == null) {
            return false;
        }
        for (String d : path.split(File.pathSeparator)) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, BINARY))) {
                return true;
            }
        }
        return false;
    }

    /** The first line of {@code qemu-system-x86_64 --version}, e.g. "QEMU emulator version 7.2.22 (Debian ...)". */
    public static String version() throws IOException {
        return version(QemuVersion.V7_2);
    }

    /** The first line of that build's {@code --version}. */
    public static String version(QemuVersion qemu) throws IOException {
        var pb = new ProcessBuilder(qemu.binary(), "--version").redirectErrorStream(true);
        pb.environment().putAll(qemu.environment());
        Process p = pb.start();
        try {
            p.getOutputStream().close();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new QemuException(BINARY + " --version did not finish in 10 s");
            }
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            return out.lines().findFirst().orElseThrow(() -> new QemuException(BINARY + " --version printed nothing")).strip();
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    /** Launches QEMU and connects QMP; on any failure the process is killed before the exception leaves. */
    public static QemuProcess start(QemuOptions options) throws IOException {
        String binary = options.version().binary(); // fails first when that build is not installed
        Path dir = Files.createTempDirectory("livemig-qemu-");
        List<String> cmd = new ArrayList<>(List.of(binary));
        cmd.addAll(options.version().firmwareArgs());
        cmd.addAll(List.of("-machine", options.machine(), "-m", options.memory()));
        cmd.addAll(FIXED_ARGS);
        cmd.addAll(List.of("-qmp", "unix:" + dir.resolve("qmp.sock") + ",server=on,wait=off"));
        if (options.paused()) {
            cmd.add("-S");
        }
        if (options.incoming() != null) {
            cmd.addAll(List.of("-incoming", options.incoming()));
        }
        int n = 0;
        for (QemuOptions.MemoryImage image : options.images()) {
            Path file = dir.resolve("image-" + n++ + ".bin");
            Files.write(file, image.bytes());
            cmd.addAll(List.of("-device", "loader,file=" + file + ",addr=0x" + Long.toHexString(image.gpa()) + ",force-raw=on"));
        }
        cmd.addAll(options.extraArgs());
        Process p;
        try {
            var pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("qemu.log").toFile());
            pb.environment().putAll(options.version().environment());
            p = pb.start();
        } catch (IOException e) {
            deleteTree(dir);
            throw new QemuException("cannot run " + BINARY + " (./test installs it): " + e.getMessage(), e);
        }
        p.getOutputStream().close();
        QemuProcess q = new QemuProcess(options, dir, List.copyOf(cmd), p);
        try {
            q.qmp = q.connect();
            return q;
        } catch (IOException | RuntimeException e) {
            q.close();
            throw e;
        }
    }

    private QmpClient connect() throws IOException {
        long deadline = System.nanoTime() + options.startTimeout().toNanos();
        while (true) {
            if (!process.isAlive()) {
                throw failure("QEMU exited during start-up with status " + process.exitValue(), null);
            }
            try {
                return QmpClient.connect(dir.resolve("qmp.sock"), Duration.ofMillis(500));
            } catch (IOException e) {
                // A short attempt either found no socket yet, or QEMU died mid-greeting; the loop tells which.
                if (System.nanoTime() > deadline) {
                    throw failure("QMP not ready within " + options.startTimeout(), e);
                }
            }
        }
    }

    public QmpClient qmp() {
        return qmp;
    }

    public long pid() {
        return process.pid();
    }

    public QemuOptions options() {
        return options;
    }

    /** The full command line this process was started with. */
    public List<String> command() {
        return command;
    }

    /** {@code query-status}'s run state: {@code prelaunch}, {@code paused}, {@code running}, {@code postmigrate}, {@code inmigrate}, ... */
    public String queryStatus() throws IOException {
        return qmp.execute("query-status").asObject().string("status");
    }

    /**
     * Writes the guest's complete state to {@code file} through {@code migrate "exec:cat > FILE"}, at unlimited
     * bandwidth, and waits until QEMU reports {@code completed}. Afterwards the source is in run state
     * {@code postmigrate}. Returns {@code query-migrate}'s final answer.
     */
    public Json.Obj saveSnapshot(Path file) throws IOException {
        String path = file.toAbsolutePath().toString();
        if (path.contains("'")) {
            throw new IllegalArgumentException("snapshot path must not contain a single quote: " + path);
        }
        qmp.execute("migrate-set-capabilities", Json.object().put("capabilities", new Json.Arr(List.of(
                Json.object().put("capability", "events").put("state", true).build()))).build());
        // The default 32 MiB/s limit would make a snapshot take about a second per 32 MiB of non-zero RAM.
        qmp.execute("migrate-set-parameters", Json.object().put("max-bandwidth", 1L << 40).build());
        qmp.execute("migrate", Json.object().put("uri", "exec:cat > '" + path + "'").build());
        return waitForMigration(MIGRATION_TIMEOUT);
    }

    /**
     * Polls {@code query-migrate} until the migration (outgoing, or incoming for a process started with
     * {@code -incoming}) is {@code completed}, and returns that answer. A {@code failed} status, a timeout, or
     * the process exiting (a 7.2 destination exits when a load fails) raise {@link QemuException} with
     * QEMU's error text and its stderr.
     */
    public Json.Obj waitForMigration(Duration timeout) throws IOException {
        return waitForMigration("completed", timeout);
    }

    /**
     * {@link #waitForMigration(Duration)} for status {@code wanted} instead, e.g. {@code pre-switchover};
     * {@code completed} before it is a failure too.
     */
    public Json.Obj waitForMigration(String wanted, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        String status = "?";
        while (true) {
            Json.Obj info;
            try {
                info = qmp.execute("query-migrate").asObject();
            } catch (QmpError e) {
                throw failure("query-migrate failed", e);
            } catch (IOException e) {
                throw failure("QEMU went away while migrating (last status " + status + ")" + exitNote(), e);
            }
            status = info.get("status").map(Json::asString).orElse("none");
            if (status.equals(wanted)) {
                return info;
            }
            switch (status) {
                case "completed" -> throw failure("migration completed without passing through " + wanted, null);
                case "failed", "cancelled" -> throw failure("migration " + status + ": "
                        + info.get("error-desc").map(Json::asString).orElse("(no error-desc)"), null);
                default -> {
                    if (System.nanoTime() > deadline) {
                        throw failure("migration not " + wanted + " within " + timeout + " (status " + status + ")", null);
                    }
                    pause(20);
                }
            }
        }
    }

    /** {@code length} bytes of guest-physical memory from {@code gpa}, via {@code pmemsave}. */
    public byte[] readGuestMemory(long gpa, int length) throws IOException {
        Path file = Files.createTempFile(dir, "pmem-", ".bin");
        try {
            qmp.execute("pmemsave", Json.object().put("val", gpa).put("size", length).put("filename", file.toString()).build());
            byte[] bytes = Files.readAllBytes(file);
            if (bytes.length != length) {
                throw failure("pmemsave wrote " + bytes.length + " bytes, asked for " + length, null);
            }
            return bytes;
        } finally {
            Files.deleteIfExists(file);
        }
    }

    /** The last few thousand characters QEMU wrote to stdout/stderr. */
    public String logTail() {
        try {
            String all = Files.readString(log, StandardCharsets.UTF_8);
            return all.length() <= LOG_TAIL_CHARS ? all : "..." + all.substring(all.length() - LOG_TAIL_CHARS);
        } catch (IOException | UncheckedIOException e) {
            return "(log unreadable: " + e.getMessage() + ")";
        }
    }

    /** A {@link QemuException} whose message carries the command line and the log tail. */
    public QemuException failure(String what, Throwable cause) {
        String tail = logTail().strip();
        return new QemuException(what + "\n  command: " + String.join(" ", command)
                + "\n  qemu log: " + (tail.isEmpty() ? "(empty)" : "\n" + tail.indent(4).stripTrailing()), cause);
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /**
     * Quits QEMU over QMP, waits up to 5 s, then kills it; children such as {@code sh -c 'cat > FILE'} are
     * killed too. Removes the temporary directory. Safe to call more than once.
     */
    @Override
    public void close() {
        List<ProcessHandle> children = process.descendants().toList();
        if (qmp != null) {
            if (process.isAlive()) {
                try {
                    qmp.execute("quit", null, Duration.ofSeconds(2));
                } catch (IOException ignored) {
                    // QEMU may close the socket before answering quit; the wait below decides.
                }
            }
            qmp.close();
        }
        try {
            if (!process.waitFor(QUIT_GRACE.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                process.waitFor(QUIT_GRACE.toMillis(), TimeUnit.MILLISECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        for (ProcessHandle child : children) {
            child.destroyForcibly();
        }
        deleteTree(dir);
    }

    private String exitNote() {
        try {
            if (process.waitFor(2, TimeUnit.SECONDS)) {
                return "; QEMU exited with status " + process.exitValue();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return "";
    }

    private static void pause(long ms) throws IOException {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    /** Deletes {@code dir} and what it holds, as far as it can (a QEMU's scratch directory). */
    static void deleteTree(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // A temp directory that cannot be listed any more is already gone.
        }
    }
}
