package dev.livemig.cli;

import java.io.PrintWriter;
import java.io.StringWriter;

/** One run of the livemig command in this JVM, with what it printed on each stream. */
record CliRun(int status, String out, String err) {
    static CliRun of(String... args) {
        var out = new StringWriter();
        var err = new StringWriter();
        int status = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new CliRun(status, out.toString(), err.toString());
    }

    /** The shape of every error: exit status 2, one line on stderr, no stack trace, nothing on stdout. */
    String oneLineError() {
        if (status != 2 || err.strip().lines().count() != 1 || err.contains("\tat ") || !out.isEmpty()) {
            throw new AssertionError("not a one-line error: " + this);
        }
        return err.strip();
    }
}
