package dev.livemig.cli;

import dev.livemig.json.Json;
import dev.livemig.qmp.QmpClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

import java.util.concurrent.Callable;

/** One migrate-recover call on a paused postcopy destination; the server's refusal is the error. */
@Command(name = "migrate-recover", mixinStandardHelpOptions = true,
        description = "On a destination whose postcopy is paused, listen on URI for the source that resumes "
                + "(migrate-recover); a livemig destination also listens again where it first listened.")
final class MigrateRecoverCommand implements Callable<Integer> {
    @Mixin
    QmpOptions qmp;

    @Parameters(index = "0", paramLabel = "URI", description = "Where to listen: tcp:HOST:PORT or unix:PATH.")
    String uri;

    @Override
    public Integer call() throws Exception {
        try (QmpClient client = qmp.connect()) {
            client.execute("migrate-recover", Json.object().put("uri", uri).build());
        }
        return 0;
    }
}
