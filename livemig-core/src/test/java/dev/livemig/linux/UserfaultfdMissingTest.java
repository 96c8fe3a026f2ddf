package dev.livemig.linux;

import dev.livemig.host.HostAssumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Missing-page faults served in this process. The faulting reads happen inside a native memcpy, where a
 * waiting thread does not hold up a JVM safepoint; a read from Java code must be served by another process
 * ({@code CrossProcessFaultServingTest}).
 */
class UserfaultfdMissingTest {
    private static final int PAGE = 4096;
    private static final MethodHandle MEMCPY = Linker.nativeLinker().downcallHandle(
            Linker.nativeLinker().defaultLookup().find("memcpy").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));

    @BeforeEach
    void needsMissingPageFaults() {
        HostAssumptions.assumeUserfaultfdMissing();
    }

    @Test
    void aReaderOfAMissingPageWaitsUntilThePageIsPlacedAndSeesItsContent() throws Exception {
        try (Arena arena = Arena.ofShared(); Userfaultfd uffd = Userfaultfd.openMissing()) {
            MemorySegment guest = Mmap.anonymous(arena, 4 * PAGE);
            uffd.registerMissing(guest);
            CompletableFuture<Long> read = readNatively(arena, guest.asSlice(2 * PAGE, PAGE));

            Userfaultfd.PageFault fault = uffd.readFault(10_000);
            assertNotNull(fault, "no fault reported within 10 s");
            assertEquals(guest.address() + 2 * PAGE, fault.address(), "the page-aligned address touched");
            assertFalse(fault.write());
            assertFalse(read.isDone(), "the reader waits for the page");

            MemorySegment page = arena.allocate(PAGE, PAGE);
            page.fill((byte) 0x5a);
            assertTrue(uffd.copy(fault.address(), page));
            assertEquals(0x5a5a5a5a5a5a5a5aL, read.get(10, TimeUnit.SECONDS));
            assertEquals((byte) 0x5a, guest.get(ValueLayout.JAVA_BYTE, 3 * PAGE - 1), "the whole page was placed");
        }
    }

    @Test
    void aZeroPageReleasesTheReaderWithZeros() throws Exception {
        try (Arena arena = Arena.ofShared(); Userfaultfd uffd = Userfaultfd.openMissing()) {
            MemorySegment guest = Mmap.anonymous(arena, 2 * PAGE);
            uffd.registerMissing(guest);
            CompletableFuture<Long> read = readNatively(arena, guest.asSlice(PAGE, PAGE));
            Userfaultfd.PageFault fault = uffd.readFault(10_000);
            assertNotNull(fault);
            assertTrue(uffd.zeroPage(fault.address(), PAGE));
            assertEquals(0L, read.get(10, TimeUnit.SECONDS));
        }
    }

    @Test
    void placingAPageThatIsAlreadyThereChangesNothing() {
        try (Arena arena = Arena.ofShared(); Userfaultfd uffd = Userfaultfd.openMissing()) {
            MemorySegment guest = Mmap.anonymous(arena, 2 * PAGE);
            guest.set(ValueLayout.JAVA_LONG, 0, 42); // populated before registration: never faults
            uffd.registerMissing(guest);
            MemorySegment page = arena.allocate(PAGE, PAGE);
            page.fill((byte) 1);
            assertFalse(uffd.copy(guest.address(), page));
            assertFalse(uffd.zeroPage(guest.address(), PAGE));
            assertEquals(42, guest.get(ValueLayout.JAVA_LONG, 0));
            assertTrue(uffd.copy(guest.address() + PAGE, page), "a missing page is placed without a fault");
            assertEquals(0x0101010101010101L, guest.get(ValueLayout.JAVA_LONG, PAGE));
        }
    }

    @Test
    void aSystemCallReadingAMissingPageWaitsOrFailsAsTheDescriptorSays(@TempDir Path dir) throws Exception {
        try (Arena arena = Arena.ofShared(); Userfaultfd uffd = Userfaultfd.openMissing();
             FileChannel file = FileChannel.open(dir.resolve("page"), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            MemorySegment guest = Mmap.anonymous(arena, PAGE);
            uffd.registerMissing(guest);
            // the kernel reads the page while the thread is in native code: no safepoint waits for it
            CompletableFuture<Integer> write = CompletableFuture.supplyAsync(() -> {
                try {
                    return file.write(guest.asByteBuffer());
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }, r -> Thread.ofPlatform().daemon().start(r));
            if (uffd.kernelFaultsWait()) {
                Userfaultfd.PageFault fault = uffd.readFault(10_000);
                assertNotNull(fault, "the kernel's read of the page waits for it");
                MemorySegment page = arena.allocate(PAGE, PAGE);
                page.fill((byte) 7);
                assertTrue(uffd.copy(fault.address(), page));
                assertEquals(PAGE, write.get(10, TimeUnit.SECONDS));
                assertEquals(7, Files.readAllBytes(dir.resolve("page"))[PAGE - 1]);
            } else {
                var e = assertThrows(ExecutionException.class, () -> write.get(10, TimeUnit.SECONDS));
                assertTrue(e.getCause().getMessage().contains("Bad address"), e.getCause().toString());
                assertNull(uffd.readFault(0), "a user-mode-only descriptor reports no kernel fault");
            }
        }
    }

    @Test
    void noFaultMeansNoMessage() {
        try (Arena arena = Arena.ofShared(); Userfaultfd uffd = Userfaultfd.openMissing()) {
            uffd.registerMissing(Mmap.anonymous(arena, PAGE));
            assertNull(uffd.readFault(50));
        }
    }

    @Test
    void aRangeCannotBeRegisteredForMissingPagesTwice() {
        try (Arena arena = Arena.ofShared(); Userfaultfd a = Userfaultfd.openMissing(); Userfaultfd b = Userfaultfd.openMissing()) {
            MemorySegment guest = Mmap.anonymous(arena, 2 * PAGE);
            a.registerMissing(guest);
            var e = assertThrows(NativeCallException.class, () -> b.registerMissing(guest));
            assertEquals("EBUSY", NativeCallException.errnoName(e.errno()));
        }
    }

    /** Reads the first long of {@code page} from a native memcpy on another thread. */
    private static CompletableFuture<Long> readNatively(Arena arena, MemorySegment page) {
        MemorySegment into = arena.allocate(8, 8);
        return CompletableFuture.supplyAsync(() -> {
            try {
                MemorySegment ignored = (MemorySegment) MEMCPY.invokeExact(into, page, 8L);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
            return into.get(ValueLayout.JAVA_LONG, 0);
        }, r -> Thread.ofPlatform().daemon().start(r));
    }
}
