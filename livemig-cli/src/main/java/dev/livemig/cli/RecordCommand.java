package dev.livemig.cli;

import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;
import dev.livemig.migration.MigrationConfig;
import dev.livemig.migration.StreamRecorder;
import dev.livemig.transport.MigrationUri;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * Records a live migration: livemig listens as the destination of a QEMU-format source (for instance
 * {@code migrate tcp:HOST:PORT} on a real QEMU, with multifd when both sides enable it) and stores what
 * arrives as a snapshot FILE that QEMU loads with {@code -incoming "exec:cat FILE"} and
 * {@code livemig replay} migrates again. A source with return-path (and switchover-ack) is answered as a
 * destination answers when the same {@code --capability} options are given.
 */
@Command(name = "record", mixinStandardHelpOptions = true,
        description = "Be the destination of a live migration and store it as a snapshot file.")
final class RecordCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "URI", description = "Where to listen: tcp:HOST:PORT (port 0: any), unix:PATH.")
    String uri;

    @Parameters(index = "1", paramLabel = "FILE", description = "The snapshot to write (only once the migration is complete).")
    Path file;

    @Mixin
    MigrationOptions migration;

    @Mixin
    MaxRamOption maxRam;

    @Mixin
    HandshakeTimeoutOption handshake;

    @Override
    public Integer call() throws Exception {
        MigrationConfig config = migration.config(MigrationConfig.defaults());
        var recorder = new StreamRecorder(config, maxRam.ceiling());
        var out = spec.commandLine().getOut();
        // record is a destination: server credentials, and the authz if one is named
        MigrationUri address = recorder.listen(MigrationUri.parse(uri), handshake.gate(), migration.objects());
        WildcardWarning.forIncoming(address).ifPresent(spec.commandLine().getErr()::println);
        out.println(JsonWriter.compact(Json.object().put("listening", address.toString()).build()));
        out.flush();
        StreamRecorder.Result r = recorder.record(file);
        out.println(JsonWriter.compact(Json.object().put("recorded", file.toString()).put("machine", r.machineType())
                .put("ram-pages", r.ramPages()).put("non-zero-pages", r.nonZeroPages()).put("device-bytes", r.tailBytes()).build()));
        return 0;
    }
}
