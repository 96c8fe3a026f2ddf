package dev.livemig.transport;

import dev.livemig.linux.NativeCallException;
import dev.livemig.linux.ZeroCopySocket;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * An outgoing TCP multifd channel for zero-copy-send: ordinary writes (packet headers, §9.2) are copied by the
 * kernel as usual, {@link #writeZeroCopy} hands guest pages to the kernel by address with MSG_ZEROCOPY, and
 * {@link #flushZeroCopy} waits until the kernel is done with them. Sends only.
 */
public final class ZeroCopySocketChannel implements MigrationChannel {
    /** QEMU's text when the socket cannot send without copying (any non-TCP transport, or an old kernel). */
    public static final String UNAVAILABLE = "Zero copy send feature not detected in host kernel";

    private final ZeroCopySocket socket;
    private volatile boolean open = true;

    private ZeroCopySocketChannel(ZeroCopySocket socket) {
        this.socket = socket;
    }

    static ZeroCopySocketChannel connect(InetSocketAddress address) throws IOException {
        try {
            return new ZeroCopySocketChannel(ZeroCopySocket.connect(address));
        } catch (NativeCallException e) {
            if (e.call().startsWith("setsockopt(SO_ZEROCOPY)")) {
                throw new IOException(UNAVAILABLE, e);
            }
            throw new IOException(e.getMessage(), e);
        }
    }

    /** Sends {@code pages} completely, by reference; they must stay mapped until {@link #flushZeroCopy}. */
    public void writeZeroCopy(List<MemorySegment> pages) throws IOException {
        try {
            socket.sendZeroCopy(pages);
        } catch (NativeCallException | IllegalStateException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    /** Waits until every zero-copy send is done; true when the kernel had copied all of them after all. */
    public boolean flushZeroCopy() throws IOException {
        try {
            return socket.flush();
        } catch (NativeCallException | IllegalStateException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        return (int) write(new ByteBuffer[] {src}, 0, 1);
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        try (Arena scratch = Arena.ofConfined()) {
            List<MemorySegment> parts = new ArrayList<>(length);
            long n = 0;
            for (int i = offset; i < offset + length; i++) {
                MemorySegment part = MemorySegment.ofBuffer(srcs[i]);
                if (!part.isNative()) { // the kernel needs an address: copy what lives on the heap
                    part = scratch.allocate(part.byteSize()).copyFrom(part);
                }
                parts.add(part);
                n += part.byteSize();
            }
            socket.sendAll(parts);
            for (int i = offset; i < offset + length; i++) {
                srcs[i].position(srcs[i].limit());
            }
            return n;
        } catch (NativeCallException | IllegalStateException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        throw new IOException("a zero-copy multifd channel only sends");
    }

    @Override
    public void shutdownOutput() {
        socket.shutdown();
    }

    @Override
    public boolean isBidirectional() {
        return false;
    }

    @Override
    public String describe() {
        return "tcp:" + socket.description() + " (zero-copy)";
    }

    @Override
    public boolean isOpen() {
        return open;
    }

    @Override
    public void close() {
        open = false;
        socket.close();
    }
}
