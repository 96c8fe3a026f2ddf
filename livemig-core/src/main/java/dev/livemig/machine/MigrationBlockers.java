package dev.livemig.machine;

import java.util.ArrayList;
import java.util.List;

/**
 * Reasons that forbid migrating a machine right now (QEMU's migrate_add_blocker): while any is present a
 * migration or snapshot is refused with the reasons as its error.
 */
public final class MigrationBlockers {
    /** A handle to remove the blocker it stands for. */
    public record Blocker(String reason) {
    }

    private final List<Blocker> blockers = new ArrayList<>();

    public synchronized Blocker add(String reason) {
        var b = new Blocker(reason);
        blockers.add(b);
        return b;
    }

    public synchronized boolean remove(Blocker blocker) {
        return blockers.remove(blocker);
    }

    public synchronized List<String> reasons() {
        return blockers.stream().map(Blocker::reason).toList();
    }
}
