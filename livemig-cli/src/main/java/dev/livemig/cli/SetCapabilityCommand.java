package dev.livemig.cli;

import dev.livemig.json.Json;
import dev.livemig.qmp.QmpClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

import java.util.List;
import java.util.concurrent.Callable;

/** One migrate-set-capabilities call; the server's refusal is the error. */
@Command(name = "set-capability", mixinStandardHelpOptions = true,
        description = "Turn one migration capability on or off on a QMP server (migrate-set-capabilities).")
final class SetCapabilityCommand implements Callable<Integer> {
    /** The two states HMP's migrate_set_capability spells on and off. */
    enum State { on, off }

    @Mixin
    QmpOptions qmp;

    @Parameters(index = "0", paramLabel = "NAME", description = "The capability, as QMP names it (e.g. return-path).")
    String name;

    @Parameters(index = "1", paramLabel = "on|off", description = "Its new state.")
    State state;

    @Override
    public Integer call() throws Exception {
        Json.Obj entry = Json.object().put("capability", name).put("state", state == State.on).build();
        try (QmpClient client = qmp.connect()) {
            client.execute("migrate-set-capabilities", Json.object().put("capabilities", new Json.Arr(List.of(entry))).build());
        }
        return 0;
    }
}
