package dev.livemig.machine;

import java.util.ArrayList;
import java.util.List;

/**
 * Reasons that forbid migrating a machine right now (QEMU's migrate_add_blocker): while any is present a
 * migration or snapshot is refused with the reasons as its error.
 */
public final class MigrationBlockers {
    /** A {@link Machine}'s own. */
    MigrationBlockers() {
    }

    /** A handle to remove the blocker it stands for. */
    public record Blocker(String reason) {
    }

    private final List<Blocker> blockers = new ArrayList<>();

    /** Adds a blocker with this reason (the error text a refused migration gives); keep the handle to remove it. */
    public synchronized Blocker add(String reason) {
        var b = new Blocker(reason);
        blockers.add(b);
        return b;
    }

    /** Removes the blocker this handle stands for; returns whether it was present. */
    public synchronized boolean remove(Blocker blocker) {
        return blockers.remove(blocker);
    }

    /** The reasons of the blockers present, in the order they were added; empty when migrating is allowed. */
    public synchronized List<String> reasons() {
        return blockers.stream().map(Blocker::reason).toList();
    }
}
