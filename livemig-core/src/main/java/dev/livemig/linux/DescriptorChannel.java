package dev.livemig.linux;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.ClosedChannelException;

/**
 * A connected stream socket (or pipe) descriptor that came from another process, as a Java channel: reads and
 * writes go through read(2) and write(2) with the FFM API (Java cannot wrap a raw descriptor in its own
 * channels). The postcopy page server reads the migration stream and writes the return path through one.
 *
 * <p>Blocking. One reader and one writer thread at a time; {@link #shutdownOutput} and {@link #close} from any.
 */
public final class DescriptorChannel implements ByteChannel {
    private static final int EINTR = 4;
    private static final int SHUT_WR = 1;
    private static final int SHUT_RDWR = 2;
    private static final int SCRATCH = 64 << 10;

    private final FileDescriptorHolder fd;
    private final String what;
    private volatile boolean open = true;
    // The last direct buffer each side used, as a segment from its index 0: a stream reads into (and writes from)
    // the same buffer again and again, and a segment per call was most of what the page server allocated.
    private ByteBuffer readViewOf;
    private MemorySegment readView;
    private ByteBuffer writeViewOf;
    private MemorySegment writeView;

    private DescriptorChannel(int fd, String what) {
        this.fd = new FileDescriptorHolder(this, what, fd);
        this.what = what;
    }

    /** Takes ownership of a received descriptor; {@code what} names it in errors. */
    public static DescriptorChannel adopt(ReceivedDescriptor d, String what) {
        return new DescriptorChannel(d.take(), what);
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        if (!open) {
            throw new ClosedChannelException();
        }
        if (!dst.hasRemaining()) {
            return 0;
        }
        if (dst.isDirect()) {
            if (readViewOf != dst) {
                readView = wholeBuffer(dst);
                readViewOf = dst;
            }
            long n = readInto(readView, dst.position(), dst.remaining());
            if (n > 0) {
                dst.position(dst.position() + (int) n);
            }
            return n == 0 ? -1 : (int) n;
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment scratch = a.allocate(Math.min(dst.remaining(), SCRATCH));
            long n = readInto(scratch, 0, scratch.byteSize());
            if (n == 0) {
                return -1;
            }
            dst.put(scratch.asSlice(0, n).asByteBuffer());
            return (int) n;
        }
    }

    private static MemorySegment wholeBuffer(ByteBuffer b) {
        return MemorySegment.ofBuffer(b.duplicate().clear());
    }

    private long readInto(MemorySegment into, long offset, long count) throws IOException {
        while (true) {
            long n = Libc.readOrErrno(fd.fd(), into, offset, count);
            if (n >= 0) {
                return n;
            }
            if (n != -EINTR) {
                throw failure("read", (int) -n);
            }
        }
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        if (!open) {
            throw new ClosedChannelException();
        }
        int total = src.remaining();
        if (src.isDirect()) {
            if (writeViewOf != src) {
                writeView = wholeBuffer(src);
                writeViewOf = src;
            }
            writeFrom(writeView, src.position(), total);
        } else {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment from = a.allocate(Math.max(1, total));
                MemorySegment.copy(MemorySegment.ofBuffer(src), 0, from, 0, total);
                writeFrom(from, 0, total);
            }
        }
        src.position(src.position() + total);
        return total;
    }

    private void writeFrom(MemorySegment from, long offset, long count) throws IOException {
        long done = 0;
        while (done < count) {
            long n = Libc.writeOrErrno(fd.fd(), from, offset + done, count - done);
            if (n < 0) {
                if (n == -EINTR) {
                    continue;
                }
                throw failure("write", (int) -n);
            }
            done += n;
        }
    }

    /** No more writes: the peer reads end of stream. */
    public void shutdownOutput() throws IOException {
        int rc = Libc.shutdownOrErrno(fd.fd(), SHUT_WR);
        if (rc < 0) {
            throw failure("shutdown", -rc);
        }
    }

    /** Ends both directions without closing, so that a reader or writer blocked on it returns now. */
    public void shutdown() {
        if (open) {
            Libc.shutdownOrErrno(fd.fd(), SHUT_RDWR);
        }
    }

    @Override
    public boolean isOpen() {
        return open;
    }

    @Override
    public void close() {
        open = false;
        fd.close();
    }

    private IOException failure(String call, int errno) {
        return new IOException(new NativeCallException(call + "(" + what + ")", errno).getMessage());
    }
}
