package dev.livemig.cli;

import dev.livemig.machine.Machine;
import dev.livemig.machine.RunState;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.migration.MigrationInfo;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.savevm.Snapshots;
import dev.livemig.transport.MigrationUri;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * Replays a recorded stream (a QEMU snapshot, or one {@code livemig record} stored) as the source of a live
 * migration: a machine of the stream's shape loads it, learning its devices from the vmdescription, then
 * migrates to URI with livemig's own RAM saver (zero pages, multifd when asked) while device state goes
 * through as recorded. The destination is typically {@code qemu-system-x86_64 -incoming}.
 */
@Command(name = "replay", mixinStandardHelpOptions = true,
        description = "Migrate a recorded stream live into a destination (e.g. qemu-system-x86_64 -incoming URI).")
final class ReplayCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "FILE", description = "The recorded stream.")
    Path file;

    @Parameters(index = "1", paramLabel = "URI", description = "Where to migrate: tcp:HOST:PORT, unix:PATH, exec:CMD, file:PATH.")
    String uri;

    @Mixin
    MigrationOptions migration;

    @Mixin
    MaxRamOption maxRam;

    @Option(names = "--json", description = "Print query-migrate's final reply as one JSON line.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        MigrationConfig config = migration.config(MigrationConfig.defaults());
        MigrationUri target = MigrationUri.parse(uri);
        Snapshots.Shape shape = Snapshots.shape(file, maxRam.ceiling());
        try (Machine m = shape.machine()) {
            RunState recorded = Snapshots.load(m, file).sourceRunState();
            m.enter(recorded); // the destination resumes only if the recorded guest was running
            MigrationInfo info = SourceRun.migrate(m, config, migration.objects(), new dev.livemig.transport.MigrationChannels(target, java.util.Optional.empty()), json);
            return info.status() == MigrationStatus.COMPLETED ? 0 : 1;
        }
    }
}
