package dev.livemig.cli;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParseException;
import dev.livemig.json.JsonParser;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A second livemig JVM started from the same jar with --json: the demo's destination (`livemig incoming
 * URI`), spoken to through its stdin (the source's digests) and stdout (JSON lines: where it listens, then
 * its verdict); or any other subcommand, for tests between processes.
 */
final class LivemigProcess implements AutoCloseable {
    /**
     * How long a line may take: a destination answers within seconds of the source's last byte (a load, two
     * digests of its RAM), so one silent this long hangs, and is killed rather than waited for forever.
     */
    static final Duration ANSWER_TIMEOUT = Duration.ofMinutes(2);
    private static final Optional<String> END = Optional.empty();

    private final Process process;
    private final BlockingQueue<Optional<String>> lines = new LinkedBlockingQueue<>();

    private LivemigProcess(Process process) {
        this.process = process;
        var out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        Thread.ofVirtual().name("livemig-destination-stdout").start(() -> {
            try (out) {
                for (String line; (line = out.readLine()) != null; ) {
                    lines.add(Optional.of(line));
                }
            } catch (IOException e) {
                // the process is gone: the end of its output
            }
            lines.add(END);
        });
    }

    static LivemigProcess start(List<String> incomingArgs) throws IOException {
        return start("incoming", incomingArgs);
    }

    /** Runs {@code livemig SUBCOMMAND incoming ARGS --json} ("incoming" alone when subcommand is "incoming"). */
    static LivemigProcess start(String subcommand, List<String> incomingArgs) throws IOException {
        List<String> args = new ArrayList<>();
        if (!subcommand.equals("incoming")) {
            args.add(subcommand);
        }
        args.add("incoming");
        args.addAll(incomingArgs);
        return command(args);
    }

    /** Runs {@code livemig ARGS --json}. */
    static LivemigProcess command(List<String> args) throws IOException {
        String javaBin = ProcessHandle.current().info().command().orElse("java");
        String jar = System.getProperty("java.class.path"); // the shaded jar, or a test's class path
        // the same JVM flags as ./livemig: a small serial heap, since page data never lives on the heap
        List<String> cmd = new ArrayList<>(List.of(javaBin, "--enable-native-access=ALL-UNNAMED",
                "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED", "-XX:+UseSerialGC",
                "-Xms8m"));
        String aot = System.getenv("LIVEMIG_DESTINATION_AOT_CACHE"); // ./livemig's, trained for this jar
        if (aot != null && !aot.isBlank() && java.nio.file.Files.isRegularFile(java.nio.file.Path.of(aot))) {
            cmd.addAll(List.of("-XX:AOTCache=" + aot, "-Xlog:aot=off")); // one it cannot use is ignored quietly
        }
        String disabled = System.getProperty(dev.livemig.machine.HostFeatures.PROPERTY);
        if (disabled != null) { // kernel features switched off here are off at the other end of the demo too
            cmd.add("-D" + dev.livemig.machine.HostFeatures.PROPERTY + "=" + disabled);
        }
        String extra = System.getenv("LIVEMIG_DEST_JAVA_OPTS"); // e.g. a profiler for the second process
        if (extra != null && !extra.isBlank()) {
            cmd.addAll(List.of(extra.trim().split("\\s+")));
        }
        cmd.addAll(List.of("-cp", jar, Main.class.getName()));
        cmd.addAll(args);
        cmd.add("--json");
        return new LivemigProcess(new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start());
    }

    /** Waits for the process to end by itself; its exit status, or -1 if it did not end within 30 s. */
    int awaitExit() {
        return waitExit();
    }

    long pid() {
        return process.pid();
    }

    /** Kills the destination at once (tests of a peer that dies). */
    void kill() {
        process.destroyForcibly();
    }

    /** The next JSON line the destination prints; fails when it exits first. */
    Json.Obj nextLine() throws IOException {
        return nextLine(ANSWER_TIMEOUT);
    }

    /** The next JSON line; fails when the process exits first, and kills it when it is silent past {@code timeout}. */
    Json.Obj nextLine(Duration timeout) throws IOException {
        Optional<String> next;
        try {
            next = lines.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted while waiting for the destination process");
        }
        if (next == null) {
            process.destroyForcibly();
            throw new IOException("the destination process (pid " + process.pid() + ") did not answer within "
                    + timeout.toSeconds() + " s; it was killed");
        }
        if (next.isEmpty()) {
            lines.add(END); // every later call sees the end too
            throw new IOException("the destination process ended without answering (exit status "
                    + waitExit() + "); its errors are above");
        }
        String line = next.get();
        try {
            return JsonParser.parse(line).asObject();
        } catch (JsonParseException e) {
            throw new IOException("unexpected destination output: " + line);
        }
    }

    /** Sends one line on the destination's stdin and closes it. */
    void send(String line) throws IOException {
        OutputStream in = process.getOutputStream();
        in.write((line + "\n").getBytes(StandardCharsets.UTF_8));
        in.close();
    }

    private int waitExit() {
        try {
            if (process.waitFor(30, TimeUnit.SECONDS)) {
                return process.exitValue();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return -1;
    }

    @Override
    public void close() {
        try {
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
