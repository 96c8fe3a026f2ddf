package dev.livemig.ram;

import dev.livemig.machine.RamBlock;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.format.ReturnPathMessage;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The postcopy page requests of the destination (REQ_PAGES_ID, REQ_PAGES: format reference §11.3, §12.5),
 * checked and queued for the RAM saver, which serves them ahead of its background sweep.
 *
 * <p>A request must name a block of this machine (REQ_PAGES names none and means the block of the previous
 * request, so a first request without a name is refused), start on a host page of that block, cover whole
 * host pages and end inside the block. A request the destination could not have meant fails the migration
 * (the caller's choice), since a destination that asks for the wrong page would wait forever for the right one.
 *
 * <p>{@link #add} is called by the return-path reader only; {@link #poll} by the saver; both may run at once.
 */
public final class PageRequests {
    /** Target pages [{@code firstPage}, {@code firstPage + pages}) of block number {@code block}. */
    public record Request(int block, long firstPage, long pages) {
    }

    private final List<RamBlock> blocks;
    private final Map<String, Integer> byName = new HashMap<>();
    private final ConcurrentLinkedQueue<Request> queue = new ConcurrentLinkedQueue<>();
    private final AtomicLong received = new AtomicLong();
    private final Semaphore arrivals = new Semaphore(0);
    private int previousBlock = -1; // the reader thread's; forgotten at postcopy resume

    public PageRequests(List<RamBlock> blocks) {
        this.blocks = List.copyOf(blocks);
        for (int i = 0; i < this.blocks.size(); i++) {
            byName.put(this.blocks.get(i).name(), i);
        }
    }

    /**
     * Checks and queues a request.
     *
     * @throws MigrationException naming the block, start and length when the request is not one the
     *                            destination could have meant
     */
    public void add(ReturnPathMessage request) throws MigrationException {
        switch (request) {
            case ReturnPathMessage.ReqPagesId r -> {
                Integer block = byName.get(r.block());
                if (block == null) {
                    throw new MigrationException("page request for unknown RAM block \"" + r.block() + "\" at 0x"
                            + Long.toHexString(r.start()));
                }
                previousBlock = block;
                queue(block, r.start(), Integer.toUnsignedLong(r.length()));
            }
            case ReturnPathMessage.ReqPages r -> {
                if (previousBlock < 0) {
                    throw new MigrationException("page request without a block name before any request named one: start 0x"
                            + Long.toHexString(r.start()));
                }
                queue(previousBlock, r.start(), Integer.toUnsignedLong(r.length()));
            }
            default -> throw new IllegalArgumentException("not a page request: " + request);
        }
    }

    private void queue(int index, long start, long length) throws MigrationException {
        RamBlock block = blocks.get(index);
        long hostPage = block.pageSize();
        if (start < 0 || start % hostPage != 0 || length == 0 || length % hostPage != 0) {
            throw new MigrationException(String.format("misaligned page request in block %s: start 0x%x length 0x%x"
                    + " (host page 0x%x)", block.name(), start, length, hostPage));
        }
        if (start >= block.usedLength() || length > block.usedLength() - start) {
            throw new MigrationException(String.format("page request beyond block %s: start 0x%x length 0x%x, block length 0x%x",
                    block.name(), start, length, block.usedLength()));
        }
        received.incrementAndGet();
        queue.add(new Request(index, start / RamBlock.TARGET_PAGE_SIZE, length / RamBlock.TARGET_PAGE_SIZE));
        arrivals.release();
    }

    /**
     * Waits up to {@code nanos} for a request (the saver, when its rate limit is spent: requests are served all
     * the same); true when one waits.
     */
    public boolean await(long nanos) throws InterruptedException {
        if (!waiting()) {
            arrivals.tryAcquire(nanos, TimeUnit.NANOSECONDS);
        }
        arrivals.drainPermits();
        return waiting();
    }

    /** The oldest request not yet taken, or null. */
    public Request poll() {
        return queue.poll();
    }

    /** Whether a request waits: a cheap test the saver makes between pages. */
    public boolean waiting() {
        return !queue.isEmpty();
    }

    /** Postcopy resume: the destination names the block of its next request again. */
    public void forgetPreviousBlock() {
        previousBlock = -1;
    }

    /** Requests accepted so far (query-migrate's postcopy-requests). */
    public long received() {
        return received.get();
    }
}
