package dev.livemig.cli;

import dev.livemig.qmp.QmpClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

import java.util.Map;
import java.util.concurrent.Callable;

/** One migrate-set-parameters call with the value typed as QEMU's schema types it; the server's refusal is the error. */
@Command(name = "set-parameter", mixinStandardHelpOptions = true,
        description = "Set one migration parameter on a QMP server (migrate-set-parameters).")
final class SetParameterCommand implements Callable<Integer> {
    @Mixin
    QmpOptions qmp;

    @Parameters(index = "0", paramLabel = "NAME", description = "The parameter, as QMP names it (e.g. downtime-limit).")
    String name;

    @Parameters(index = "1", paramLabel = "VALUE", description = "Its value: an integer (sizes may say K, M, G, T), on|off, or a string.")
    String value;

    @Override
    public Integer call() throws Exception {
        try (QmpClient client = qmp.connect()) {
            client.execute("migrate-set-parameters", ParameterArguments.of(Map.of(name, value)));
        }
        return 0;
    }
}
