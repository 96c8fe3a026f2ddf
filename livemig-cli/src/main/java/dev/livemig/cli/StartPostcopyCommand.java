package dev.livemig.cli;

import dev.livemig.qmp.QmpClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import java.util.concurrent.Callable;

/** One migrate-start-postcopy call; the server's refusal is the error. */
@Command(name = "start-postcopy", mixinStandardHelpOptions = true,
        description = "Switch a running migration to postcopy at its next iteration (migrate-start-postcopy); "
                + "postcopy-ram must have been on when it started.")
final class StartPostcopyCommand implements Callable<Integer> {
    @Mixin
    QmpOptions qmp;

    @Override
    public Integer call() throws Exception {
        try (QmpClient client = qmp.connect()) {
            client.execute("migrate-start-postcopy");
        }
        return 0;
    }
}
