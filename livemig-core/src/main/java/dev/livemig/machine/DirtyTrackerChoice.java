package dev.livemig.machine;

import dev.livemig.machine.HostFeatures;

/**
 * A machine's choice of dirty tracker, probed once: {@link DirtyTracker#automatic(HostFeatures)} checks on scratch
 * memory that userfaultfd tracking works end to end (1–6 ms, inside a migration's setup phase); once that has
 * succeeded for this machine, later migrations open the userfaultfd tracker without repeating the probe. Until
 * then, and whenever opening fails, each call chooses afresh. Thread-safe.
 */
public final class DirtyTrackerChoice {
    private final HostFeatures features;
    private volatile boolean userfaultfdProven;

    /** A choice made on a host with these features (which kernel interfaces may be tried). */
    public DirtyTrackerChoice(HostFeatures features) {
        this.features = features;
    }

    /** A new tracker for one migration; the caller closes it. */
    public DirtyTracker open() {
        if (userfaultfdProven) {
            try {
                return UffdDirtyTracker.open();
            } catch (RuntimeException e) {
                userfaultfdProven = false; // the host changed under us (fd limit, seccomp): probe again
            }
        }
        DirtyTracker tracker = DirtyTracker.automatic(features);
        userfaultfdProven = tracker instanceof UffdDirtyTracker;
        return tracker;
    }
}
