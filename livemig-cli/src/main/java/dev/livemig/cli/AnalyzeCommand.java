package dev.livemig.cli;

import dev.livemig.analyze.StreamDump;
import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;
import dev.livemig.wire.MigrationException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.Callable;

/**
 * The migration-stream debugger: QEMU's scripts/analyze-migration.py options and JSON output ({@code -f},
 * {@code -m}, {@code -d state|desc}, {@code -x}), plus {@code --verify}. A stream from stdin ({@code -f -})
 * is stored in a temporary file first: the vmdescription that explains it comes last.
 */
@Command(name = "analyze", mixinStandardHelpOptions = true, subcommands = AnalyzeCommand.Diff.class,
        description = "Dump a migration stream as QEMU's analyze-migration.py does (and read what it cannot).")
final class AnalyzeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-f", "--file"}, paramLabel = "FILE", description = "Migration stream to read ('-': stdin); required.")
    String file;

    @Option(names = {"-m", "--memory"}, description = "Dump RAM contents as well.")
    boolean memory;

    @Option(names = {"-d", "--dump"}, defaultValue = "state", paramLabel = "state|desc",
            description = "What to dump: the state of every section (default) or the vmdescription.")
    String dump;

    @Option(names = {"-x", "--extract"}, description = "Write desc.json, state.json and one file per RAM block into the current directory.")
    boolean extract;

    @Option(names = "--verify", description = "Read the whole stream; print one JSON verdict (ok, or the first error with its "
            + "section and offset); exit status 0 or 1.")
    boolean verify;

    @Option(names = "--multifd", paramLabel = "CHANNEL_FILE",
            description = "A capture of one multifd channel of the same migration (repeatable): its pages are dumped and extracted too.")
    java.util.List<Path> multifd = new java.util.ArrayList<>();

    @Option(names = "--stats", description = "Print where the bytes go: per RAM block, pages and bytes of each encoding; "
            + "per section, its size.")
    boolean stats;

    @picocli.CommandLine.Mixin
    MaxRamOption maxRam;

    @Override
    public Integer call() throws Exception {
        var out = spec.commandLine().getOut();
        dev.livemig.savevm.RamCeiling ceiling = maxRam.ceiling();
        if (file == null) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "the following arguments are required: -f/--file");
        }
        Path stream = file.equals("-") ? fromStdin() : Path.of(file);
        try {
            if (dev.livemig.analyze.CprStateDump.isCprState(stream)) {
                return cprState(stream, out);
            }
            if (verify) {
                try {
                    StreamDump.state(stream, false, multifd, ceiling);
                    out.println(JsonWriter.compact(Json.object().put("verdict", "ok").put("file", file).build()));
                    return 0;
                } catch (MigrationException e) {
                    out.println(JsonWriter.compact(Json.object().put("verdict", "malformed").put("file", file)
                            .put("error", e.getMessage()).build()));
                    return 1;
                }
            }
            if (stats) {
                out.println(JsonWriter.pretty(StreamDump.stats(stream, multifd, ceiling), 4));
            } else if (extract) {
                StreamDump.extract(stream, Path.of("").toAbsolutePath(), out::println, multifd, ceiling);
            } else if (dump.equals("state")) {
                JsonWriter.pretty(StreamDump.state(stream, memory, multifd, ceiling), 4, out); // -m text can exceed a String
                out.println();
            } else if (dump.equals("desc")) {
                out.println(JsonWriter.pretty(StreamDump.description(stream), 4));
            } else {
                throw new MigrationException("Please specify either -x, -d state or -d desc");
            }
            return 0;
        } catch (InternalError e) { // the JVM's word for a fault on a mapped file that shrank under it
            throw new MigrationException("the stream file " + file + " changed while it was read: " + MigrationException.reason(e));
        } finally {
            if (file.equals("-")) {
                Files.deleteIfExists(stream);
            }
        }
    }

    /** A CPR state rather than a migration stream: its fd list (state or --verify; nothing else applies). */
    private int cprState(Path stream, java.io.PrintWriter out) throws IOException, MigrationException {
        if (verify) {
            try {
                dev.livemig.analyze.CprStateDump.dump(stream);
                out.println(JsonWriter.compact(Json.object().put("verdict", "ok").put("file", file).put("kind", "cpr state").build()));
                return 0;
            } catch (MigrationException e) {
                out.println(JsonWriter.compact(Json.object().put("verdict", "malformed").put("file", file)
                        .put("kind", "cpr state").put("error", e.getMessage()).build()));
                return 1;
            }
        }
        if (memory || extract || stats || !dump.equals("state") || !multifd.isEmpty()) {
            throw new MigrationException(file + " is a CPR state (QCPR): it has a list of descriptors to dump (-d state,"
                    + " --verify), no RAM, description or sections");
        }
        out.println(JsonWriter.pretty(dev.livemig.analyze.CprStateDump.dump(stream), 4));
        return 0;
    }

    private static Path fromStdin() throws IOException {
        Path tmp = Files.createTempFile("livemig-analyze-", ".stream");
        try (InputStream in = System.in) {
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
        }
        return tmp;
    }

    @Command(name = "diff", mixinStandardHelpOptions = true,
            description = "Which RAM pages and which device fields differ between two streams; exit 0 when identical, 1 if not.")
    static final class Diff implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @picocli.CommandLine.Parameters(index = "0", paramLabel = "A")
        Path a;

        @picocli.CommandLine.Parameters(index = "1", paramLabel = "B")
        Path b;

        @Override
        public Integer call() throws Exception {
            Json.Obj d = dev.livemig.analyze.StreamDiff.diff(a, b);
            spec.commandLine().getOut().println(JsonWriter.pretty(d, 4));
            return d.get("identical").orElseThrow().equals(new Json.Bool(true)) ? 0 : 1;
        }
    }
}
