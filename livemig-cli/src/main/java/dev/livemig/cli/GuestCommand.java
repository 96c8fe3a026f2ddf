package dev.livemig.cli;

import dev.livemig.cli.guest.DemoGuest;
import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.migration.MigrationInfo;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.qmp.QmpServer;
import dev.livemig.wire.MigrationException;
import dev.livemig.transport.MigrationUri;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

/**
 * The source half of the demo, for two terminals or two hosts: runs the demo guest, then migrates it to a
 * `livemig incoming URI` started elsewhere with the same --ram; or, with --qmp, serves QMP and leaves the
 * migration to a QMP client, running until quit as a QEMU source does.
 */
@Command(name = "guest", mixinStandardHelpOptions = true,
        description = "Run the demo guest and live-migrate it to a waiting `livemig incoming` (same --ram), "
                + "or serve QMP (--qmp) and let a QMP client migrate it.")
final class GuestCommand implements Callable<Integer> {
    @Mixin
    GuestOptions guest;

    @Mixin
    MigrationOptions migration;

    @Option(names = "--migrate", paramLabel = "URI", description = "Where the destination listens (or use --qmp).")
    String uri;

    @Option(names = "--cpr-channel", paramLabel = "unix:PATH", description = "With --parameter mode=cpr-transfer: where the"
            + " new process (livemig incoming --cpr-channel) takes the CPR state, the RAM's memory handed over.")
    String cprChannel;

    @Mixin
    QmpOption qmp;

    @Option(names = "--run-time", defaultValue = "1000", paramLabel = "MS", description = "How long the guest runs before migrating.")
    long runMs;

    @Option(names = "--json", description = "Print the final query-migrate reply as one JSON object.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        dev.livemig.migration.CodeWarmUp.startOnce(); // a source: its page loops compiled before it migrates
        guest.check();
        MigrationConfig config = migration.config(MigrationConfig.defaults());
        var objects = migration.objects();
        if ((uri == null) == !qmp.given()) {
            throw new MigrationException("give either --migrate URI or --qmp ADDRESS");
        }
        try (DemoGuest g = guest.source(guest.dirtyRate == 0 ? DemoCommand.DEMO_DIRTY_RATE : guest.dirtyRate, config)) {
            g.fillHalf(1);
            g.machine().resume();
            if (qmp.given()) {
                return serve(g, config, objects);
            }
            var channels = new dev.livemig.transport.MigrationChannels(MigrationUri.parse(uri),
                    java.util.Optional.ofNullable(cprChannel == null ? null : MigrationUri.parse(cprChannel)));
            Thread.sleep(runMs);
            MigrationInfo info = SourceRun.migrate(g.machine(), config, objects, channels, json);
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

    /** Runs the guest under a QMP server until a client sends quit. */
    private int serve(DemoGuest g, MigrationConfig config, dev.livemig.transport.tls.UserObjects objects) throws Exception {
        try (QmpServer server = qmp.listenOn(QmpServer.builder(g.machine()).config(config).objects(objects)).start()) {
            String at = qmp.bound(server);
            System.out.println(json ? JsonWriter.compact(Json.object().put("qmp", at).build()) : "QMP on " + at);
            System.out.flush();
            server.awaitClosed();
        }
        return 0;
    }
}
