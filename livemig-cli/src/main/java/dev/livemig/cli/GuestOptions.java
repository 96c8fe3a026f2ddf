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

    void check() {
        if (ram < 4096 || ram % 4096 != 0) {
            throw new IllegalArgumentException("--ram must be a positive multiple of 4 KiB: " + ram);
        }
    }
}
