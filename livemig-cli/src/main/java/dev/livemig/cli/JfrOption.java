package dev.livemig.cli;

import dev.livemig.wire.MigrationException;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;
import java.text.ParseException;
import java.time.Duration;

/**
 * {@code --jfr FILE}: a Java Flight Recording of the command, written to FILE when it ends: the JVM's default
 * profile plus every livemig event (dev.livemig.MigrationSetup, MigrationPass, Switchover with its downtime
 * parts, IncomingLoad), each at any duration. Read it with {@code jfr print --events dev.livemig.Switchover FILE}
 * or JDK Mission Control.
 */
final class JfrOption {
    @Option(names = "--jfr", paramLabel = "FILE",
            description = "Record a Java Flight Recording (JVM default profile and livemig's events) into FILE, written when the command ends.")
    Path file;

    /** The recording, running until closed (then written); a no-op without --jfr. */
    AutoCloseable start() throws MigrationException {
        if (file == null) {
            return () -> { };
        }
        try {
            var recording = new jdk.jfr.Recording(jdk.jfr.Configuration.getConfiguration("default"));
            recording.enable("dev.livemig.*").withThreshold(Duration.ZERO);
            recording.setDestination(file); // written as the recording stops
            recording.start();
            return () -> {
                recording.stop(); // writes the file
                recording.close();
            };
        } catch (IOException | ParseException | IllegalStateException | SecurityException e) {
            throw new MigrationException("--jfr " + file + ": cannot record: " + MigrationException.reason(e), e);
        }
    }
}
