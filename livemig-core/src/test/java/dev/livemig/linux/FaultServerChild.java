package dev.livemig.linux;

import java.io.DataInputStream;
import java.io.ByteArrayInputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;

/**
 * The fault-serving process of {@code CrossProcessFaultServingTest}: connects to the socket named by its first
 * argument, receives the guest's userfaultfd and a description of the registered range (features, base,
 * length, index of a page to poison), and serves every fault with a page whose longs all hold
 * {@link #pattern}(index). It exits after the number of seconds in its second argument, whatever happens, so
 * that a failing test ends (closing its descriptor wakes anything still waiting).
 */
public final class FaultServerChild {
    private static final int PAGE = 4096;

    private FaultServerChild() {
    }

    /** What page {@code index} holds once served. */
    public static long pattern(long index) {
        return 0x6c6d_0000_0000_0000L | index;
    }

    public static void main(String[] args) throws Exception {
        long deadline = System.nanoTime() + Long.parseLong(args[1]) * 1_000_000_000L;
        try (UnixSocket socket = UnixSocket.connect(Path.of(args[0]));
             Arena arena = Arena.ofConfined()) {
            var descriptors = socket.receiveDescriptors(1);
            byte[] header = new byte[32];
            socket.readFully(header);
            var in = new DataInputStream(new ByteArrayInputStream(header));
            long features = in.readLong();
            long base = in.readLong();
            long length = in.readLong();
            long poisoned = in.readLong();
            try (Userfaultfd uffd = Userfaultfd.adopt(descriptors.getFirst(), features)) {
                socket.write(new byte[]{1}); // ready
                MemorySegment page = arena.allocate(PAGE, PAGE);
                while (System.nanoTime() < deadline) {
                    Userfaultfd.PageFault fault = uffd.readFault(200);
                    if (fault == null) {
                        continue;
                    }
                    long index = (fault.address() - base) / PAGE;
                    if (fault.address() < base || index * PAGE >= length) {
                        throw new IllegalStateException("fault outside the range: 0x" + Long.toHexString(fault.address()));
                    }
                    if (index == poisoned) {
                        uffd.poison(base + index * PAGE, PAGE);
                        continue;
                    }
                    for (int off = 0; off < PAGE; off += 8) {
                        page.set(ValueLayout.JAVA_LONG, off, pattern(index));
                    }
                    uffd.copy(base + index * PAGE, page);
                }
            }
        }
    }
}
