package dev.livemig.cli;

import dev.livemig.cli.guest.DemoGuest;
import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.migration.MigrationInfo;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.transport.MigrationUri;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

/**
 * The source half of the demo, for two terminals or two hosts: runs the demo guest, then migrates it to a
 * `livemig incoming URI` started elsewhere with the same --ram.
 */
@Command(name = "guest", mixinStandardHelpOptions = true,
        description = "Run the demo guest and live-migrate it to a waiting `livemig incoming` (same --ram).")
final class GuestCommand implements Callable<Integer> {
    @Mixin
    GuestOptions guest;

    @Mixin
    MigrationOptions migration;

    @Option(names = "--migrate", required = true, paramLabel = "URI", description = "Where the destination listens.")
    String uri;

    @Option(names = "--run-time", defaultValue = "1000", paramLabel = "MS", description = "How long the guest runs before migrating.")
    long runMs;

    @Option(names = "--json", description = "Print the final query-migrate reply as one JSON object.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        guest.check();
        MigrationConfig config = migration.config(MigrationConfig.defaults());
        MigrationUri target = MigrationUri.parse(uri);
        try (DemoGuest g = new DemoGuest(guest.ram, guest.dirtyRate == 0 ? DemoCommand.DEMO_DIRTY_RATE : guest.dirtyRate)) {
            g.fillHalf(1);
            g.machine().resume();
            Thread.sleep(runMs);
            MigrationInfo info = SourceRun.migrate(g.machine(), config, target, json);
            if (json) {
                System.out.println(JsonWriter.compact(Json.object().put("query-migrate", info.toJson()).build()));
            } else {
                System.out.print(ProgressLine.summary(info));
                if (info.status() != MigrationStatus.COMPLETED) {
                    System.out.println("the guest keeps running here");
                }
            }
            return info.status() == MigrationStatus.COMPLETED ? 0 : 1;
        }
    }
}
