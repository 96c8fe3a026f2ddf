package dev.livemig.linux;

import dev.livemig.host.HostAssumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.*;

/** The userfaultfd bindings against the host's kernel; they need WP_ASYNC and WP_UNPOPULATED (Linux 6.7+). */
class UserfaultfdTest {

    @BeforeEach
    void needsAsyncWriteProtect() {
        HostAssumptions.assumeUserfaultfdWriteProtect();
    }

    @Test
    void kernelOffersAsyncWriteProtectOnUnpopulatedMemory() {
        long features = Userfaultfd.supportedFeatures();
        assertNotEquals(0, features & Userfaultfd.FEATURE_WP_ASYNC, () -> "features 0x" + Long.toHexString(features));
        assertNotEquals(0, features & Userfaultfd.FEATURE_WP_UNPOPULATED, () -> "features 0x" + Long.toHexString(features));
        try (Userfaultfd uffd = Userfaultfd.openWpAsync()) {
            long granted = uffd.features();
            assertEquals(Userfaultfd.FEATURE_WP_ASYNC | Userfaultfd.FEATURE_WP_UNPOPULATED,
                    granted & (Userfaultfd.FEATURE_WP_ASYNC | Userfaultfd.FEATURE_WP_UNPOPULATED));
        }
    }

    @Test
    void writesToProtectedMemoryProceedWithoutAHandler() {
        try (Arena arena = Arena.ofConfined(); Userfaultfd uffd = Userfaultfd.openWpAsync()) {
            MemorySegment mem = Mmap.anonymous(arena, 16 * 4096);
            mem.set(ValueLayout.JAVA_LONG, 0, 7);
            uffd.registerWriteProtect(mem);
            uffd.writeProtect(mem, true);
            // In sync mode these stores would block forever waiting for a fault handler; async resolves them.
            for (long off = 0; off < mem.byteSize(); off += 4096) {
                mem.set(ValueLayout.JAVA_LONG, off, off + 1);
            }
            for (long off = 0; off < mem.byteSize(); off += 4096) {
                assertEquals(off + 1, mem.get(ValueLayout.JAVA_LONG, off));
            }
            uffd.writeProtect(mem, false);
            uffd.unregister(mem);
        }
    }

    @Test
    void unalignedRangesAreRefusedWithTheCallAndErrnoNamed() {
        try (Arena arena = Arena.ofConfined(); Userfaultfd uffd = Userfaultfd.openWpAsync()) {
            MemorySegment mem = Mmap.anonymous(arena, 4 * 4096);
            var e = assertThrows(NativeCallException.class, () -> uffd.registerWriteProtect(mem.asSlice(100, 4096)));
            assertEquals(22, e.errno(), "EINVAL");
            assertTrue(e.getMessage().startsWith("ioctl(UFFDIO_REGISTER) failed"), e.getMessage());
        }
    }

    @Test
    void registeringTheSameRangeTwiceIsRefused() {
        try (Arena arena = Arena.ofConfined(); Userfaultfd a = Userfaultfd.openWpAsync(); Userfaultfd b = Userfaultfd.openWpAsync()) {
            MemorySegment mem = Mmap.anonymous(arena, 4 * 4096);
            a.registerWriteProtect(mem);
            var e = assertThrows(NativeCallException.class, () -> b.registerWriteProtect(mem));
            assertEquals("EBUSY", NativeCallException.errnoName(e.errno()));
        }
    }

    @Test
    void aClosedDescriptorIsNotUsedAgain() {
        Userfaultfd uffd = Userfaultfd.openWpAsync();
        uffd.close();
        uffd.close(); // idempotent
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mem = Mmap.anonymous(arena, 4096);
            assertThrows(IllegalStateException.class, () -> uffd.registerWriteProtect(mem));
        }
    }
}
