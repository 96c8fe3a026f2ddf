package dev.livemig.cli;

import dev.livemig.qmp.QmpError;
import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;

/**
 * The {@code livemig} command. Errors are one line on stderr and exit status 2; --debug adds the stack trace.
 * A QMP server's refusal is reported in the server's own words (its error desc).
 */
@Command(name = "livemig", mixinStandardHelpOptions = true, version = "livemig 0.1.0",
        description = "QEMU-compatible live migration for the JVM.")
public final class Main implements Runnable {
    /**
     * The commands, in the order help lists them. Picocli builds a command's model by reflection when it is
     * registered, which costs more than a short command's work (analyze of a 1 GiB stream): a run that
     * names one of these registers only that one.
     */
    private static final java.util.Map<String, Class<?>> COMMANDS = commands(DemoCommand.class, GuestCommand.class,
            IncomingCommand.class, BenchCommand.class, AnalyzeCommand.class, RecordCommand.class, ReplayCommand.class,
            MigrateCommand.class, StatusCommand.class, SetCapabilityCommand.class, SetParameterCommand.class,
            StartPostcopyCommand.class, MigratePauseCommand.class, MigrateRecoverCommand.class,
            CheckCommand.class);

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--debug", scope = CommandLine.ScopeType.INHERIT, description = "Print stack traces of errors.")
    boolean debug;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line on System.out and System.err and returns the exit status. */
    public static int run(String... args) {
        return execute(commandLine(args), args);
    }

    /** Runs the command line with its output and errors going to {@code out} and {@code err} (for tests). */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        var cli = commandLine(args);
        cli.setOut(out);
        cli.setErr(err);
        return execute(cli, args);
    }

    private static CommandLine commandLine(String... args) {
        var cli = new CommandLine(new Main());
        Class<?> named = COMMANDS.get(firstWord(args));
        if (named != null) {
            cli.addSubcommand(named);
        } else {
            COMMANDS.values().forEach(cli::addSubcommand);
            cli.addSubcommand(AutoComplete.GenerateCompletion.class);
            cli.addSubcommand(CommandLine.HelpCommand.class);
        }
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            if (parseResult.hasMatchedOption("--debug")) {
                e.printStackTrace(commandLine.getErr());
            } else {
                commandLine.getErr().println("livemig: " + oneLine(e));
            }
            commandLine.getErr().flush();
            return 2;
        });
        return cli;
    }

    private static java.util.Map<String, Class<?>> commands(Class<?>... classes) {
        var byName = new java.util.LinkedHashMap<String, Class<?>>();
        for (Class<?> c : classes) {
            byName.put(c.getAnnotation(Command.class).name(), c);
        }
        return java.util.Collections.unmodifiableMap(byName);
    }

    /** The first argument that is not the one global option, or null. */
    private static String firstWord(String... args) {
        for (String a : args) {
            if (!a.equals("--debug")) {
                return a;
            }
        }
        return null;
    }

    private static int execute(CommandLine cli, String... args) {
        int status = cli.execute(args);
        cli.getOut().flush();
        return status;
    }

    private static String oneLine(Exception e) {
        if (e instanceof QmpError q) {
            return q.desc();
        }
        // a MigrationException's message is escaped already; any other may quote a path or a peer's text
        return dev.livemig.wire.MigrationException.printable(e.getMessage() == null ? e.toString() : e.getMessage());
    }

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }
}
