package dev.livemig.ram;

import dev.livemig.machine.DirtyBitmap;
import dev.livemig.machine.RamBlock;
import dev.livemig.wire.format.MigrationCommand.PostcopyRamDiscard;
import dev.livemig.wire.format.MigrationCommand.Range;
import dev.livemig.wire.format.MigrationCommands;

import java.util.ArrayList;
import java.util.List;

/**
 * The POSTCOPY_RAM_DISCARD commands of one block at the switch to postcopy (format reference §12.2): every
 * page still to send is one the destination may hold in an outdated version or not at all, so it must drop
 * it and fault for it later. Runs of such pages become byte ranges, at most
 * {@link MigrationCommands#MAX_DISCARD_RANGES} per command, as QEMU batches them.
 *
 * <p>For a block of huge host pages the destination can only drop and place whole host pages, so a host page
 * with any target page still to send is first made entirely "to send" (QEMU's canonicalisation): the source
 * then sends all of it after the switch.
 */
public final class PostcopyDiscards {
    private PostcopyDiscards() {
    }

    /**
     * Canonicalises {@code toSend} (one bit per target page of {@code block}) to whole host pages, then returns
     * its runs as discard commands; none when nothing is left to send.
     */
    public static List<PostcopyRamDiscard> of(RamBlock block, DirtyBitmap toSend) {
        long pagesPerHostPage = block.pageSize() / RamBlock.TARGET_PAGE_SIZE;
        if (toSend.size() != block.usedLength() / RamBlock.TARGET_PAGE_SIZE) {
            throw new IllegalArgumentException("bitmap of " + toSend.size() + " pages for block " + block.name()
                    + " of " + block.usedLength() / RamBlock.TARGET_PAGE_SIZE);
        }
        if (pagesPerHostPage > 1) {
            for (long page = toSend.nextSet(0); page >= 0; ) {
                long hostStart = page - page % pagesPerHostPage;
                toSend.setRange(hostStart, hostStart + pagesPerHostPage);
                page = toSend.nextSet(hostStart + pagesPerHostPage);
            }
        }
        var commands = new ArrayList<PostcopyRamDiscard>();
        var batch = new ArrayList<Range>(MigrationCommands.MAX_DISCARD_RANGES);
        for (long start = toSend.nextSet(0); start >= 0; ) {
            long end = toSend.nextClear(start);
            batch.add(new Range(start * RamBlock.TARGET_PAGE_SIZE, (end - start) * RamBlock.TARGET_PAGE_SIZE));
            if (batch.size() == MigrationCommands.MAX_DISCARD_RANGES) {
                commands.add(new PostcopyRamDiscard(block.name(), batch));
                batch.clear();
            }
            start = toSend.nextSet(end);
        }
        if (!batch.isEmpty()) {
            commands.add(new PostcopyRamDiscard(block.name(), batch));
        }
        return commands;
    }
}
