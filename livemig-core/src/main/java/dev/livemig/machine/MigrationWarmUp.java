package dev.livemig.machine;

import java.io.IOException;
import java.nio.channels.SocketChannel;

/**
 * Runs once, on a side thread, the code a first migration would otherwise run cold inside its setup phase
 * (between the migrate command and the first RAM page on the wire): linking the native bindings for
 * userfaultfd and PAGEMAP_SCAN (FFM downcall handles cost a fresh JVM 40–60 ms) and the machine's one probe of
 * the dirty tracker on scratch memory ({@link DirtyTrackerChoice}), and the JDK's socket layer. A machine starts
 * it when it is built; it changes how soon a migration starts, never what it does.
 */
final class MigrationWarmUp {
    private MigrationWarmUp() {
    }

    static void start(DirtyTrackerChoice tracking) {
        Thread.ofPlatform().name("livemig-warmup").daemon().start(() -> run(tracking));
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
