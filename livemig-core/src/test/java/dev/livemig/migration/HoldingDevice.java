package dev.livemig.migration;

import dev.livemig.machine.LiveStateHandler;
import dev.livemig.testing.Await;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A device whose outgoing migration blocks in one phase until {@link #release}d, so that a test can look at
 * a migration held in setup, active (iterate: the guest keeps running) or device (complete: the guest is
 * stopped). Its sections are empty, so a destination with the same device (any phase) loads them. Every wait
 * is bounded so that a failing test cannot hang the build.
 */
public final class HoldingDevice implements LiveStateHandler {
    public enum Phase { NONE, SETUP, ITERATE, COMPLETE }

    private final Phase phase;
    private final CountDownLatch entered = new CountDownLatch(1);
    private final CountDownLatch released = new CountDownLatch(1);

    public HoldingDevice(Phase phase) {
        this.phase = phase;
    }

    private void maybeHold(Phase now) {
        if (now == phase) {
            entered.countDown();
            try {
                released.await(2, TimeUnit.MINUTES);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Waits until the migration thread is held. */
    public void awaitEntered() throws InterruptedException {
        assertTrue(entered.await(Await.DEADLINE.toMillis(), TimeUnit.MILLISECONDS), "the migration reached " + phase);
    }

    public void release() {
        released.countDown();
    }

    @Override
    public void saveSetup(StreamWriter out) {
        maybeHold(Phase.SETUP);
    }

    @Override
    public boolean saveIterate(StreamWriter out, long budgetBytes) {
        maybeHold(Phase.ITERATE);
        return true;
    }

    @Override
    public void saveCompletePrecopy(StreamWriter out) {
        maybeHold(Phase.COMPLETE);
    }

    /** Holding in iterate needs something left to send, or the migration would switch over at once. */
    @Override
    public Pending pendingEstimate() {
        return phase == Phase.ITERATE && released.getCount() > 0 ? new Pending(1L << 40, 0) : Pending.NONE;
    }

    @Override
    public void loadState(StreamReader in, int versionId) {
        // the sections are empty
    }
}
