package dev.livemig.cli;

import dev.livemig.savevm.RamCeiling;
import dev.livemig.wire.MigrationException;
import picocli.CommandLine.Option;

/** {@code --max-ram SIZE}: the most guest RAM a stream may declare before it is refused (record, replay, analyze). */
final class MaxRamOption {
    @Option(names = "--max-ram", paramLabel = "SIZE", converter = Sizes.class,
            description = "Refuse a stream that declares more guest RAM than this (e.g. 64G; default: this host's memory).")
    Long maxRam;

    RamCeiling ceiling() throws MigrationException {
        if (maxRam == null) {
            return RamCeiling.host();
        }
        if (maxRam <= 0) {
            throw new MigrationException("--max-ram must be a positive size: " + maxRam);
        }
        return new RamCeiling(maxRam);
    }
}
