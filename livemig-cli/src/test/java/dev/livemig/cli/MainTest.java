package dev.livemig.cli;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The command's surface: every QMP subcommand documents itself, and the completion script knows them all. */
class MainTest {
    private static final List<String> QMP_COMMANDS = List.of("migrate", "status", "set-capability", "set-parameter",
            "start-postcopy");

    @Test
    void everyQmpSubcommandHasHelpNamingTheQmpOption() {
        for (String cmd : QMP_COMMANDS) {
            CliRun r = CliRun.of(cmd, "--help");
            assertEquals(0, r.status(), cmd);
            assertTrue(r.out().startsWith("Usage: livemig " + cmd + " "), r.out());
            assertTrue(r.out().contains("--qmp=ADDRESS"), r.out());
        }
        assertTrue(CliRun.of("generate-completion", "--help").out().startsWith("Usage: livemig generate-completion"));
    }

    @Test
    void theTopLevelHelpListsTheNewSubcommands() {
        String out = CliRun.of("--help").out();
        for (String cmd : QMP_COMMANDS) {
            assertTrue(out.contains("\n  " + cmd + " "), cmd + " in " + out);
        }
    }

    @Test
    void generateCompletionPrintsABashScriptWithEverySubcommand() {
        CliRun r = CliRun.of("generate-completion");
        assertEquals(0, r.status(), r.toString());
        assertTrue(r.out().startsWith("#!/usr/bin/env bash"), r.out());
        assertTrue(r.out().contains("complete -F _complete_livemig"), "registers a completion function for livemig");
        for (String cmd : List.of("demo", "guest", "incoming", "bench", "migrate", "status", "set-capability", "set-parameter",
                "start-postcopy")) {
            assertTrue(r.out().contains(cmd), cmd);
        }
        assertTrue(r.out().contains("--qmp"), "options are completed too");
    }

    @Test
    void aMissingQmpOptionIsAUsageError() {
        CliRun r = CliRun.of("status");
        assertEquals(2, r.status());
        assertTrue(r.err().startsWith("Missing required option: '--qmp=ADDRESS'"), r.err());
    }

    @Test
    void aRunThatNamesOneCommandStillKnowsTheOthersWhenAskedForHelp() {
        // a named command is the only one registered (picocli's reflection is most of a short run's time)
        assertEquals(0, CliRun.of("--debug", "analyze", "--help").status());
        CliRun unknown = CliRun.of("analyse", "-f", "x");
        assertEquals(2, unknown.status());
        assertTrue(unknown.err().contains("analyse"), unknown.err());
        String help = CliRun.of("help").out();
        for (String cmd : List.of("demo", "analyze", "record", "replay", "bench", "generate-completion", "help")) {
            assertTrue(help.contains("\n  " + cmd + " "), cmd + " in " + help);
        }
    }
}
