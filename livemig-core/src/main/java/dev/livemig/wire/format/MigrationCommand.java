package dev.livemig.wire.format;

import java.util.List;
import java.util.Objects;

/**
 * A {@code QEMU_VM_COMMAND} record (0x08) of the main stream, decoded (format reference §11.2). The source
 * writes these with {@link MigrationCommands#write}; the destination's record loop turns the raw
 * {@link StreamRecord.Command} into one of these with {@link MigrationCommands#decode} and acts on it.
 * Records carry values only; which values a peer may send (page sizes, range alignment, block names that
 * exist) is checked by the layer that knows the RAM blocks.
 */
public sealed interface MigrationCommand {

    /** Command 1: the destination starts writing on the return path. */
    record OpenReturnPath() implements MigrationCommand {
    }

    /** Command 2: the destination answers {@code PONG(value)} on the return path. */
    record Ping(int value) implements MigrationCommand {
    }

    /**
     * Command 3. With postcopy-ram it carries the OR of all RAM blocks' page sizes and the target page size
     * (16 bytes); with only dirty-bitmap postcopy it is empty, which this record spells as both values 0
     * ({@link #withoutRam()}). A real page size is never 0, so the two forms cannot be confused.
     */
    record PostcopyAdvise(long pageSizeSummary, long targetPageSize) implements MigrationCommand {
        /** The empty form: postcopy for dirty bitmaps only, no RAM page sizes. */
        public static PostcopyAdvise withoutRam() {
            return new PostcopyAdvise(0, 0);
        }

        /** True for the 16-byte form sent when postcopy-ram is on. */
        public boolean carriesRamSizes() {
            return pageSizeSummary != 0 || targetPageSize != 0;
        }
    }

    /** Command 4: the destination starts its postcopy listen thread. */
    record PostcopyListen() implements MigrationCommand {
    }

    /** Command 5: the destination starts the guest; ends the packaged load loop. */
    record PostcopyRun() implements MigrationCommand {
    }

    /** Command 6: byte ranges of {@code block} sent during precopy and dirtied since; the destination drops them. */
    record PostcopyRamDiscard(String block, List<Range> ranges) implements MigrationCommand {
        public PostcopyRamDiscard {
            Objects.requireNonNull(block, "block");
            ranges = List.copyOf(ranges);
        }
    }

    /** One discarded run: byte offset and byte length within the block (be64 each on the wire). */
    record Range(long start, long length) {
    }

    /**
     * Command 7: {@code length} bytes (unsigned 32-bit) follow this command outside its payload and form a nested
     * stream. Writing this command writes only the 4-byte length; the caller writes the package after it.
     */
    record Packaged(long length) implements MigrationCommand {
    }

    /** Command 8: the destination enters COLO incoming mode. */
    record EnableColo() implements MigrationCommand {
    }

    /** Command 9: postcopy recovery: the destination resumes after a network failure. */
    record PostcopyResume() implements MigrationCommand {
    }

    /** Command 10: postcopy recovery: the destination answers with its received bitmap of {@code block}. */
    record RecvBitmap(String block) implements MigrationCommand {
        public RecvBitmap {
            Objects.requireNonNull(block, "block");
        }
    }

    /** Command 11 (QEMU 10.0+, unknown to 7.2): switchover begins; every handler's switchover_start hook runs. */
    record SwitchoverStart() implements MigrationCommand {
    }
}
