package dev.livemig.machine;

import java.io.IOException;
import java.nio.channels.SocketChannel;

/**
 * Runs once, on a side thread, the code a first migration would otherwise run cold inside its setup phase
 * (between the migrate command and the first RAM page on the wire): linking the native bindings for
 * userfaultfd and PAGEMAP_SCAN (FFM downcall handles cost a fresh JVM 40–60 ms) and the machine's one probe of
 * the dirty tracker on scratch memory ({@link DirtyTrackerChoice}), and the JDK's socket layer. The first
 * machine a process builds starts it; what it links serves the whole process (class initialisation is per JVM),
 * so later machines skip it and probe their tracker at their first migration, warm by then (about 1 ms). It
 * changes how soon a migration starts, never what it does.
 */
final class MigrationWarmUp {
    /** Linking is the JVM's, once per process: the one process-wide fact here. */
    private static final java.util.concurrent.atomic.AtomicBoolean STARTED = new java.util.concurrent.atomic.AtomicBoolean();

    private MigrationWarmUp() {
    }

    static void start(DirtyTrackerChoice tracking) {
        if (STARTED.compareAndSet(false, true)) {
            Thread.ofPlatform().name("livemig-warmup").daemon().start(() -> run(tracking));
        }
    }

    private static void run(DirtyTrackerChoice tracking) {
        try (DirtyTracker tracker = tracking.open()) { // the probe, made here once for the machine
            tracker.name();
        } catch (RuntimeException | LinkageError e) {
            // nothing lost: the migration creates its own tracker and reports any failure there
        }
        try (SocketChannel unconnected = SocketChannel.open()) {
            unconnected.isOpen();
        } catch (IOException | RuntimeException e) {
            // as above: the transport reports its own failures
        }
    }
}
