package dev.livemig.cli;

import dev.livemig.qmp.QmpClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import java.util.concurrent.Callable;

/** One migrate-pause call: cuts the link of a migration in postcopy on purpose; the server's refusal is the error. */
@Command(name = "migrate-pause", mixinStandardHelpOptions = true,
        description = "Cut the link of a migration in postcopy on purpose (migrate-pause): both ends go to postcopy-paused "
                + "until the source resumes (`livemig migrate --resume`).")
final class MigratePauseCommand implements Callable<Integer> {
    @Mixin
    QmpOptions qmp;

    @Override
    public Integer call() throws Exception {
        try (QmpClient client = qmp.connect()) {
            client.execute("migrate-pause");
        }
        return 0;
    }
}
