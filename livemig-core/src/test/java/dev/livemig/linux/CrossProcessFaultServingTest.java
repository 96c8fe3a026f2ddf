package dev.livemig.linux;

import dev.livemig.host.HostAssumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Why postcopy serves page faults from another process. A Java thread that touches a missing page sleeps in
 * the kernel while the JVM counts it as running Java code, so a safepoint (any GC) waits for it; a fault
 * handler in the same JVM would then wait for the safepoint to end before it could place the page: a deadlock
 * that not even SIGTERM breaks. A handler in another process is not held up by this JVM's safepoints. These
 * tests fault from Java code while collections run, and a separate JVM holding the userfaultfd serves them.
 */
class CrossProcessFaultServingTest {
    private static final int PAGE = 4096;
    private static final int PAGES = 256;
    private static final int CHILD_LIFETIME_SECONDS = 120;

    @TempDir
    Path dir;

    @BeforeEach
    void needsMissingPageFaults() {
        HostAssumptions.assumeUserfaultfdMissing();
    }

    @Test
    void javaThreadsFaultingDuringCollectionsAreServedByAnotherProcess() throws Exception {
        try (ServedGuest served = new ServedGuest(dir.resolve("faults.sock"), -1)) {
            MemorySegment guest = served.guest;
            var collecting = new AtomicBoolean(true);
            var collections = new AtomicLong();
            Thread collector = Thread.ofPlatform().daemon().start(() -> {
                while (collecting.get()) {
                    System.gc(); // a safepoint, possibly while a reader below waits for a page
                    collections.incrementAndGet();
                }
            });
            List<Thread> readers = new ArrayList<>();
            long[] wrong = new long[4];
            for (int r = 0; r < 4; r++) {
                int reader = r;
                readers.add(Thread.ofPlatform().start(() -> {
                    for (int p = reader; p < PAGES; p += 4) {
                        long offset = (long) p * PAGE + (p % 8) * 512L;
                        if (guest.get(ValueLayout.JAVA_LONG, offset) != FaultServerChild.pattern(p)) {
                            wrong[reader]++;
                        }
                    }
                }));
            }
            for (Thread t : readers) {
                t.join(60_000);
                assertFalse(t.isAlive(), "a reader still waits for its page after 60 s");
            }
            collecting.set(false);
            collector.join(60_000);
            assertArrayEquals(new long[4], wrong, "pages read with content other than the server placed");
            assertTrue(collections.get() > 0);
        }
    }

    @Test
    void aPageThatWillNeverComeFailsItsReaderInsteadOfHangingIt() throws Exception {
        assumeTrue((Userfaultfd.supportedFeatures() & Userfaultfd.FEATURE_POISON) != 0, "userfaultfd without POISON (Linux < 6.6)");
        long poisoned = 7;
        try (ServedGuest served = new ServedGuest(dir.resolve("poison.sock"), poisoned)) {
            var error = assertThrows(InternalError.class, () -> served.guest.get(ValueLayout.JAVA_LONG, poisoned * PAGE));
            assertTrue(error.getMessage().contains("unsafe memory access"), error.getMessage());
            assertEquals(FaultServerChild.pattern(6), served.guest.get(ValueLayout.JAVA_LONG, 6L * PAGE), "its neighbour arrives");
        }
    }

    /** Guest memory registered for missing pages here, its faults served by a {@link FaultServerChild}. */
    private static final class ServedGuest implements AutoCloseable {
        final Arena arena = Arena.ofShared();
        final Userfaultfd uffd = Userfaultfd.openMissing();
        final MemorySegment guest = Mmap.anonymous(arena, (long) PAGES * PAGE);
        final Process child;

        ServedGuest(Path path, long poisoned) throws IOException {
            uffd.registerMissing(guest);
            try (UnixSocket.Server server = UnixSocket.listen(path)) {
                String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
                child = new ProcessBuilder(java, "-Xmx64m", "-XX:TieredStopAtLevel=1", "--enable-native-access=ALL-UNNAMED",
                        "-cp", System.getProperty("java.class.path"), FaultServerChild.class.getName(),
                        path.toString(), String.valueOf(CHILD_LIFETIME_SECONDS))
                        .inheritIO().start();
                try (UnixSocket socket = server.accept(60_000)) {
                    assertNotNull(socket, "the fault server did not connect within 60 s");
                    socket.sendDescriptors(uffd);
                    var header = new ByteArrayOutputStream();
                    var out = new DataOutputStream(header);
                    out.writeLong(uffd.features());
                    out.writeLong(guest.address());
                    out.writeLong(guest.byteSize());
                    out.writeLong(poisoned);
                    socket.write(header.toByteArray());
                    byte[] ready = new byte[1];
                    socket.readFully(ready);
                    assertEquals(1, ready[0], "the server's ready byte");
                }
            }
        }

        @Override
        public void close() throws InterruptedException {
            child.destroy();
            child.waitFor();
            uffd.close();
            arena.close();
        }
    }
}
