package dev.livemig.cli;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParser;
import dev.livemig.qmp.QmpClient;
import dev.livemig.testing.Await;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Back-to-back migrations in one process pair: a {@code livemig guest --qmp} source, migrated again and again
 * (query-migrate until completed, then cont, as a QEMU source may be), and a {@link SoakDestination} that
 * receives one migration after another; multifd (2 channels) and return-path, so every kind of migration
 * thread and socket comes and goes each time. After a warm-up, threads and file descriptors of both
 * processes must come back to exactly their baseline, and RSS must stay within {@link #RSS_GROWTH_BOUND_KIB}
 * of it.
 *
 * <p>CI runs 50 ({@code livemig.soak.migrations}); scripts/soak.sh runs 1,000 and prints the figures every
 * {@code livemig.soak.every} migrations (also appended to {@code livemig.soak.log} when set).
 */
class SoakIT {
    private static final int MIGRATIONS = Integer.getInteger("livemig.soak.migrations", 50);
    private static final int EVERY = Integer.getInteger("livemig.soak.every", 10);
    private static final int WARM_UP = Math.min(10, MIGRATIONS);
    private static final long RAM = 16L << 20;
    /**
     * How much RSS may grow after the warm-up: the JIT compiling code seen late, the heap growing towards its
     * working size and malloc arenas settling. A leak of one page buffer or channel per migration would
     * exceed it within a few hundred migrations, and one of a guest's RAM within one or two.
     */
    static final long RSS_GROWTH_BOUND_KIB = 48 << 10;

    @TempDir
    Path dir;

    /** One process's threads (all, and livemig's by name), file descriptors and resident memory, from /proc. */
    record Figures(long threads, long livemigThreads, long fds, long rssKiB) {
        static Figures of(long pid) throws IOException {
            Path proc = Path.of("/proc", Long.toString(pid));
            long threads = 0;
            long livemig = 0;
            try (Stream<Path> tasks = Files.list(proc.resolve("task"))) {
                for (Path t : tasks.toList()) {
                    threads++;
                    try {
                        if (Files.readString(t.resolve("comm")).startsWith("livemig-")) { // the OS name: 15 chars
                            livemig++;
                        }
                    } catch (IOException e) {
                        // the thread ended while listed
                    }
                }
            }
            long fds;
            try (Stream<Path> list = Files.list(proc.resolve("fd"))) {
                fds = list.count();
            }
            long rss = Files.readAllLines(proc.resolve("status")).stream().filter(l -> l.startsWith("VmRSS:"))
                    .mapToLong(l -> Long.parseLong(l.replaceAll("[^0-9]", ""))).findFirst().orElse(-1);
            return new Figures(threads, livemig, fds, rss);
        }

        @Override
        public String toString() {
            return "threads=" + threads + " livemig-threads=" + livemigThreads + " fds=" + fds + " rss=" + rssKiB + "K";
        }
    }

    /** A child JVM with the flags of ./livemig, whose stdout is read as JSON lines. */
    private static final class Child implements AutoCloseable {
        private final Process process;
        private final BlockingQueue<Optional<String>> lines = new LinkedBlockingQueue<>();

        Child(String mainClass, List<String> args) throws IOException {
            List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                    "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-Xms8m",
                    // a fixed number of JIT compiler threads: otherwise they come and go with the load, and
                    // the thread count could not be held to its baseline
                    "-XX:-UseDynamicNumberOfCompilerThreads",
                    // no CodeWarmUp: its one-time scratch migrations would move the thread baseline taken at rest
                    "-Dlivemig.warmup=off",
                    "-cp", System.getProperty("java.class.path"), mainClass));
            cmd.addAll(args);
            process = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            var out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
            Thread.ofVirtual().start(() -> {
                try (out) {
                    for (String line; (line = out.readLine()) != null; ) {
                        lines.add(Optional.of(line));
                    }
                } catch (IOException e) {
                    // the process is gone
                }
                lines.add(Optional.empty());
            });
        }

        Json.Obj nextLine() throws Exception {
            Optional<String> next = lines.poll(QueryMigrate.WAIT.toSeconds(), TimeUnit.SECONDS);
            assertNotNull(next, "pid " + process.pid() + " printed nothing for " + QueryMigrate.WAIT.toSeconds() + " s");
            assertTrue(next.isPresent(), "pid " + process.pid() + " ended early; its errors are above");
            return JsonParser.parse(next.get()).asObject();
        }

        void send(String line) throws IOException {
            OutputStream in = process.getOutputStream();
            in.write((line + "\n").getBytes(StandardCharsets.UTF_8));
            in.flush();
        }

        Figures figures() throws IOException {
            return Figures.of(process.pid());
        }

        @Override
        public void close() throws Exception {
            process.getOutputStream().close();
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        }
    }

    private static Json.Obj obj(Json j) {
        return (Json.Obj) j;
    }

    private static void report(String line) throws IOException {
        System.out.println(line);
        String log = System.getProperty("livemig.soak.log");
        if (log != null && !log.isBlank()) {
            Files.writeString(Path.of(log), line + "\n", StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        }
    }

    @Test
    void backToBackMigrationsLeaveThreadsAndDescriptorsAtTheirBaselineAndRssBounded() throws Exception {
        Path srcSock = dir.resolve("src.sock");
        try (var source = new Child(Main.class.getName(), List.of("guest", "--ram", Long.toString(RAM), "--dirty-rate", "4M",
                "--qmp", "unix:" + srcSock, "--json"));
             var dest = new Child(SoakDestination.class.getName(), List.of(Long.toString(RAM), "multifd,return-path", "2"))) {
            assertEquals("unix:" + srcSock, source.nextLine().string("qmp"));
            try (QmpClient qmp = QmpClient.connect(srcSock, QueryMigrate.WAIT)) {
                qmp.execute("migrate-set-capabilities", Json.object().put("capabilities", new Json.Arr(List.of(
                        Json.object().put("capability", "multifd").put("state", true).build(),
                        Json.object().put("capability", "return-path").put("state", true).build()))).build());
                qmp.execute("migrate-set-parameters", Json.object().put("max-bandwidth", 1L << 30)
                        .put("multifd-channels", 2L).build());
                Figures sourceAtRest = source.figures();
                Figures destAtRest = dest.figures();
                long t0 = System.nanoTime();
                Figures sourceBaseline = null;
                Figures destBaseline = null;
                for (int i = 1; i <= MIGRATIONS; i++) {
                    dest.send("next");
                    String uri = dest.nextLine().string("listening");
                    qmp.execute("migrate", Json.object().put("uri", uri).build());
                    int n = i;
                    Json.Obj done = Await.value("migration " + n + " completed", () -> obj(qmp.execute("query-migrate")),
                            q -> QueryMigrate.status(q).equals("completed"), q -> QueryMigrate.ended(q), QueryMigrate.WAIT);
                    // statistics start from zero at each migrate: one migration moves the guest about once
                    long moved = QueryMigrate.transferred(done);
                    assertTrue(moved > 0 && moved < 8 * RAM, "migration " + i + " transferred " + moved + ": " + done);
                    Json.Obj verdict = dest.nextLine();
                    assertEquals("completed", verdict.string("status"), "migration " + i + ": " + verdict);
                    assertTrue(verdict.get("verified").orElseThrow() instanceof Json.Bool(boolean b) && b, "migration " + i + ": " + verdict);
                    qmp.execute("cont");
                    if (i == 1 || i == WARM_UP || i % EVERY == 0 || i == MIGRATIONS) {
                        // between migrations: wait until every migration thread has ended at both ends
                        Await.until("the migration threads of migration " + n + " to end", () ->
                                source.figures().livemigThreads() == sourceAtRest.livemigThreads()
                                        && dest.figures().livemigThreads() == destAtRest.livemigThreads(),
                                () -> source.figures() + " / " + dest.figures());
                        Figures s = source.figures();
                        Figures d = dest.figures();
                        report(String.format("soak migration=%d elapsed=%.1fs source %s | destination %s", i,
                                (System.nanoTime() - t0) / 1e9, s, d));
                        if (i == WARM_UP) {
                            sourceBaseline = s;
                            destBaseline = d;
                        }
                    }
                }
                Figures sb = sourceBaseline;
                Figures db = destBaseline;
                Await.until("threads and descriptors back at their baseline after warm-up", () -> {
                    Figures s = source.figures();
                    Figures d = dest.figures();
                    return s.threads() == sb.threads() && s.fds() == sb.fds() && d.threads() == db.threads() && d.fds() == db.fds();
                }, () -> "source " + source.figures() + " (baseline " + sb + "), destination " + dest.figures() + " (baseline " + db + ")");
                Figures s = source.figures();
                Figures d = dest.figures();
                report(String.format("soak done migrations=%d duration=%.1fs source %s (after warm-up %s) | destination %s (after warm-up %s)",
                        MIGRATIONS, (System.nanoTime() - t0) / 1e9, s, sb, d, db));
                assertTrue(s.rssKiB() <= sb.rssKiB() + RSS_GROWTH_BOUND_KIB, "source RSS " + s + " against " + sb);
                assertTrue(d.rssKiB() <= db.rssKiB() + RSS_GROWTH_BOUND_KIB, "destination RSS " + d + " against " + db);
                qmp.execute("quit");
            }
        }
    }
}
