package dev.livemig.cli;

import dev.livemig.migration.MigrationConfig;
import dev.livemig.wire.MigrationException;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;

/** --capability and --parameter, turned into a validated {@link MigrationConfig}. */
final class MigrationOptions {
    @Option(names = "--capability", paramLabel = "NAME", description = "Enable a migration capability (repeatable): "
            + "return-path, pause-before-switchover, switchover-ack, events, auto-converge, compress, xbzrle, multifd.")
    List<String> capabilities = new ArrayList<>();

    @Option(names = "--parameter", paramLabel = "NAME=VALUE", description = "Set a migration parameter (repeatable): "
            + "downtime-limit (ms), max-bandwidth (bytes/s), cpu-throttle-*, max-cpu-throttle, throttle-trigger-threshold, "
            + "compress-level, compress-threads, compress-wait-thread, decompress-threads, xbzrle-cache-size, "
            + "multifd-channels, multifd-compression (none, zlib, zstd), multifd-zlib-level, multifd-zstd-level.")
    List<String> parameters = new ArrayList<>();

    @Option(names = "--object", paramLabel = "SPEC", description = "Create an object as QEMU's -object does (repeatable): "
            + "tls-creds-x509,id=ID,dir=DIR,endpoint=client|server[,verify-peer=on|off]; tls-creds-psk,id=ID,dir=DIR,"
            + "endpoint=…[,username=NAME]; authz-simple,id=ID,identity=DN; authz-listfile,id=ID,filename=PATH; or a JSON "
            + "object (authz-list with its rules). --parameter tls-creds=ID (tls-hostname, tls-authz) names them.")
    List<String> objects = new ArrayList<>();

    /** The objects --object asked for, created (their files read, their certificates checked) in the order given. */
    dev.livemig.transport.tls.UserObjects objects() throws MigrationException {
        var all = new dev.livemig.transport.tls.UserObjects();
        for (String spec : objects) {
            try {
                dev.livemig.transport.tls.ObjectOption.parse(spec).addTo(all);
            } catch (dev.livemig.transport.tls.UserObjectException e) {
                throw new MigrationException("--object " + spec + ": " + e.getMessage(), e);
            }
        }
        return all;
    }

    /** The configuration, starting from {@code base} (QEMU's defaults, or the demo's). */
    MigrationConfig config(MigrationConfig base) throws MigrationException {
        MigrationConfig c = base;
        for (String cap : capabilities) {
            c = c.withCapability(dev.livemig.migration.MigrationCapability.byName(cap));
        }
        for (String p : parameters) {
            int eq = p.indexOf('=');
            if (eq <= 0) {
                throw new MigrationException("--parameter expects NAME=VALUE: " + p);
            }
            c = c.withParameter(p.substring(0, eq), withSizeSuffix(p.substring(0, eq), p.substring(eq + 1)));
        }
        return MigrationConfig.validated(c);
    }

    /** Sizes may be written as on the rest of the command line (64M, 1G), as HMP accepts them. */
    private static String withSizeSuffix(String name, String value) {
        try {
            if (dev.livemig.migration.MigrationParameter.byName(name).type() == dev.livemig.migration.MigrationParameter.Type.SIZE
                    && !value.matches("-?[0-9]+")) {
                return Long.toString(Sizes.parse(value));
            }
        } catch (MigrationException | picocli.CommandLine.TypeConversionException e) {
            // left as written: the parameter's own check names what is wrong
        }
        return value;
    }
}
