package dev.livemig.machine;

/**
 * The tracker that does nothing: the dirty log is exactly what the application reported with
 * {@link RamBlock#markDirty}. Used where the kernel cannot track writes transparently, and wherever the
 * application already reports every write (it costs nothing). Stateless, so safe from any thread.
 */
public final class ExplicitDirtyTracker implements DirtyTracker {
    private final String name;

    /** A tracker chosen deliberately. */
    public ExplicitDirtyTracker() {
        this.name = "explicit";
    }

    /** A fallback; {@code whyNotTransparent} becomes part of {@link #name()}. */
    public ExplicitDirtyTracker(String whyNotTransparent) {
        this.name = "explicit (" + whyNotTransparent + ")";
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public void start(RamBlock block) {
        // markDirty already writes the log.
    }

    @Override
    public void collect(RamBlock block) {
        // Nothing to move: markDirty wrote straight into the log.
    }

    @Override
    public void stop(RamBlock block) {
        // No kernel state to undo.
    }

    @Override
    public void close() {
        // No resources.
    }

    @Override
    public String toString() {
        return name;
    }
}
