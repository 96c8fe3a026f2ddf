package dev.livemig.cli;

import dev.livemig.qmp.QmpClient;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.time.Duration;

/** --qmp ADDRESS: the QMP server to drive, QEMU's (-qmp) or livemig's. */
final class QmpOptions {
    /** Connecting and the greeting are quick on a live server; the bound only matters for a silent one. */
    static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);

    @Option(names = "--qmp", required = true, paramLabel = "ADDRESS",
            description = "Where the QMP server listens: unix:PATH or tcp:HOST:PORT (IPv6 as tcp:[::1]:PORT).")
    String address;

    QmpClient connect() throws IOException {
        return QmpClient.connect(address, CONNECT_TIMEOUT);
    }
}
