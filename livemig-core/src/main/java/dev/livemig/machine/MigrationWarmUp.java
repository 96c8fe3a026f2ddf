package dev.livemig.machine;

import dev.livemig.linux.HostFeatures;

import java.io.IOException;
import java.nio.channels.SocketChannel;

/**
 * Runs once, on a side thread, the code a first migration would otherwise run cold inside its setup phase
 * (between the migrate command and the first RAM page on the wire): linking the native bindings for
 * userfaultfd and PAGEMAP_SCAN (FFM downcall handles cost a fresh JVM 40–60 ms) through a full probe of the
 * dirty tracker on scratch memory, and the JDK's socket layer. A machine starts it when it is built; nothing of
 * it is kept, so it cannot change what a migration does, only how soon it starts.
 */
final class MigrationWarmUp {
    private MigrationWarmUp() {
    }

    static void start(HostFeatures features) {
        Thread.ofPlatform().name("livemig-warmup").daemon().start(() -> run(features));
    }

    private static void run(HostFeatures features) {
        try (DirtyTracker tracker = DirtyTracker.automatic(features)) {
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
