package dev.livemig.cli;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParseException;
import dev.livemig.json.JsonParser;
import dev.livemig.json.JsonWriter;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * src/test/python/qmp_migrate.py run by python3 with QEMU's own QMP client, qemu.qmp, on its path: taken from
 * where scripts/install-test-deps.sh caches it ($LIVEMIG_TEST_DEPS_CACHE, else /var/cache/livemig-test-deps,
 * then qemu-qmp). Neither python3 nor qemu.qmp is optional: without them this fails, saying what to run.
 */
final class QemuQmpScript {
    static final Path SCRIPT = Path.of("src/test/python/qmp_migrate.py");
    static final String DEFAULT_CACHE = "/var/cache/livemig-test-deps";
    /** The script's own budget; the process gets a minute more to print its summary before it is killed. */
    static final Duration BUDGET = Duration.ofMinutes(3);
    private static final String HOW = "run scripts/install-test-deps.sh (as root once; ./test runs it), which caches "
            + "qemu.qmp from Debian's qemu source package";

    /** What one run printed and how it ended. */
    record Outcome(int exit, Json.Obj summary, String stderr) {
        boolean ok() {
            return exit == 0 && summary.get("ok").orElse(null) instanceof Json.Bool(boolean b) && b;
        }

        Json.Obj source() {
            return summary.get("source").orElseThrow().asObject();
        }

        Json.Obj destination() {
            return summary.get("destination").orElseThrow().asObject();
        }

        @Override
        public String toString() {
            return "exit=" + exit + " summary=" + JsonWriter.compact(summary) + (stderr.isBlank() ? "" : " stderr=" + stderr.strip());
        }
    }

    /** The directory to put on PYTHONPATH: the one holding qemu/qmp/__init__.py. */
    static Path qemuQmpDir() {
        String root = System.getenv("LIVEMIG_TEST_DEPS_CACHE");
        Path base = Path.of(root == null || root.isBlank() ? DEFAULT_CACHE : root);
        if (!base.isAbsolute()) {
            throw new AssertionError("LIVEMIG_TEST_DEPS_CACHE must be an absolute path, as install-test-deps.sh requires: " + root);
        }
        Path dir = base.resolve("qemu-qmp");
        Path init = dir.resolve("qemu/qmp/__init__.py");
        if (!Files.isReadable(init)) {
            throw new AssertionError("QEMU's python QMP client is missing: no readable " + init + "; " + HOW);
        }
        return dir;
    }

    /** Fails, saying what to run, unless python3 runs and imports qemu.qmp from the cache. */
    static void requireClient() throws IOException, InterruptedException {
        var pb = new ProcessBuilder("python3", "-c", "import qemu.qmp, qemu.qmp.legacy").redirectErrorStream(true);
        pb.environment().put("PYTHONPATH", qemuQmpDir().toString());
        pb.environment().put("PYTHONDONTWRITEBYTECODE", "1");
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new AssertionError("python3 cannot be run (" + e.getMessage() + "); " + HOW, e);
        }
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("python3 did not import qemu.qmp within 60 s; killed");
        }
        if (p.exitValue() != 0) {
            throw new AssertionError("python3 cannot import qemu.qmp from " + qemuQmpDir() + ": " + out.strip() + "; " + HOW);
        }
    }

    /** Runs the script against a source and a destination (started with incoming defer) serving QMP. */
    static Outcome migrate(String sourceQmp, String destinationQmp) throws IOException, InterruptedException {
        Path pythonPath = qemuQmpDir();
        var pb = new ProcessBuilder("python3", SCRIPT.toAbsolutePath().toString(), "--source", sourceQmp,
                "--dest", destinationQmp, "--timeout", String.valueOf(BUDGET.toSeconds()));
        pb.environment().put("PYTHONPATH", pythonPath.toString());
        pb.environment().put("PYTHONDONTWRITEBYTECODE", "1"); // the cache may be another user's, read-only here
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new AssertionError("python3 cannot be run (" + e.getMessage() + "); " + HOW, e);
        }
        p.getOutputStream().close();
        var err = new StringBuilder();
        Thread drain = Thread.ofVirtual().start(() -> {
            try {
                err.append(new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                err.append("(stderr unreadable: ").append(e.getMessage()).append(')');
            }
        });
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(BUDGET.toSeconds() + 60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("qmp_migrate.py did not end within its budget plus a minute; killed. stdout: " + out);
        }
        drain.join();
        List<String> lines = out.strip().lines().toList();
        if (lines.isEmpty()) {
            throw new AssertionError("qmp_migrate.py printed no summary (exit " + p.exitValue() + "): " + err);
        }
        try {
            return new Outcome(p.exitValue(), JsonParser.parse(lines.getLast()).asObject(), err.toString());
        } catch (JsonParseException e) {
            throw new AssertionError("qmp_migrate.py's last line is not a JSON summary (exit " + p.exitValue() + "): "
                    + out + err, e);
        }
    }

    private QemuQmpScript() {
    }
}
