package dev.livemig.cli;

import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;
import dev.livemig.qmp.QmpClient;
import dev.livemig.qmp.QueryMigrateReply;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.util.concurrent.Callable;

/** query-migrate on a QMP server, shown as HMP's `info migrate` shows it, or as the raw JSON reply. */
@Command(name = "status", mixinStandardHelpOptions = true,
        description = "Show the outgoing migration of a QMP server (query-migrate) as `info migrate` does.")
final class StatusCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    QmpOptions qmp;

    @Option(names = "--json", description = "Print query-migrate's return value as it came ({} before any migration).")
    boolean json;

    @Override
    public Integer call() throws Exception {
        Json.Obj reply;
        try (QmpClient client = qmp.connect()) {
            reply = client.execute("query-migrate").asObject();
        }
        var out = spec.commandLine().getOut();
        out.print(json ? JsonWriter.compact(reply) + "\n" : ProgressLine.summary(QueryMigrateReply.parse(reply)));
        out.flush();
        return 0;
    }
}
