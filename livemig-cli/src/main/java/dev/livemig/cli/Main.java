package dev.livemig.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** The {@code livemig} command. Errors are one line on stderr and a non-zero status; --debug adds the stack trace. */
@Command(name = "livemig", mixinStandardHelpOptions = true, version = "livemig 0.1.0",
        description = "QEMU-compatible live migration for the JVM.",
        subcommands = {DemoCommand.class, GuestCommand.class, IncomingCommand.class, BenchCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--debug", scope = CommandLine.ScopeType.INHERIT, description = "Print stack traces of errors.")
    boolean debug;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line and returns the exit status (for tests). */
    public static int run(String... args) {
        var main = new Main();
        var cli = new CommandLine(main);
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            if (parseResult.hasMatchedOption("--debug")) {
                e.printStackTrace();
            } else {
                commandLine.getErr().println("livemig: " + (e.getMessage() == null ? e.toString() : e.getMessage()));
            }
            return 2;
        });
        return cli.execute(args);
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
