package dev.livemig.cli;

import picocli.CommandLine.Option;

/** The demo guest's shape, shared by demo, guest and incoming: both ends must build the same machine. */
final class GuestOptions {
    @Option(names = "--ram", converter = Sizes.class, defaultValue = "1G", paramLabel = "SIZE",
            description = "Guest RAM (K, M, G suffixes; default ${DEFAULT-VALUE}).")
    long ram;

    @Option(names = "--dirty-rate", converter = Sizes.class, defaultValue = "0", paramLabel = "BYTES_PER_S",
            description = "How fast the guest dirties memory, in bytes of pages per second (0 = as fast as it can).")
    long dirtyRate;

    @Option(names = "--memfd", description = "Keep the guest's RAM in a memfd, which cpr-transfer hands to the new process"
            + " (implied by --parameter mode=cpr-transfer).")
    boolean memfd;

    /** The guest a source runs: its RAM in a memfd when asked or when cpr-transfer will hand it over. */
    dev.livemig.cli.guest.DemoGuest source(long dirtyRate, dev.livemig.migration.MigrationConfig config) {
        boolean handsOver = config.text(dev.livemig.migration.MigrationParameter.MODE).equals(dev.livemig.migration.MigrationConfig.CPR_TRANSFER);
        return memfd || handsOver ? dev.livemig.cli.guest.DemoGuest.overMemfd(ram, dirtyRate, handsOver)
                : new dev.livemig.cli.guest.DemoGuest(ram, dirtyRate);
    }

    void check() {
        if (ram < 4096 || ram % 4096 != 0) {
            throw new IllegalArgumentException("--ram must be a positive multiple of 4 KiB: " + ram);
        }
    }
}
