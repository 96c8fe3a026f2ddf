package dev.livemig.transport.tls;

import dev.livemig.transport.MigrationChannel;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLSession;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A TLS session of the JDK's TLS (an SSLEngine) over a raw migration channel. The reading side unwraps, the writing
 * side wraps, each under its own lock: SSLEngine allows one wrap and one unwrap at the same time, which is what the
 * stream one way and the return path the other need. Records are gathered into a large buffer before they go to the
 * raw channel, so a multi-megabyte write is a few system calls, not one per 16 KiB record.
 */
final class X509Session implements TlsSession {
    /** What is checked of the peer once the handshake completes (certificate validity, hostname, authorization). */
    @FunctionalInterface
    interface PeerCheck {
        void check(SSLSession session) throws TlsException;
    }

    /** Records gathered before a write to the raw channel: a few dozen full records. */
    private static final int OUTGOING_BYTES = 512 * 1024;
    private static final ByteBuffer NOTHING = ByteBuffer.allocate(0);

    private final MigrationChannel raw;
    private final SSLEngine engine;
    private final PeerCheck check;
    private final java.util.concurrent.locks.ReentrantLock readLock = new java.util.concurrent.locks.ReentrantLock();
    private final Object writeLock = new Object();
    /** Records read from the raw channel, not yet unwrapped (read mode). */
    private final ByteBuffer incoming;
    /** Application bytes unwrapped and not yet returned (read mode). */
    private final ByteBuffer plain;
    /** Records wrapped and not yet written (write mode, flushed before each write returns). */
    private final ByteBuffer outgoing;
    private boolean ended;

    X509Session(MigrationChannel raw, SSLEngine engine, PeerCheck check) {
        this.raw = raw;
        this.engine = engine;
        this.check = check;
        SSLSession s = engine.getSession();
        // heap buffers: records are encrypted and decrypted in place there, and the JDK's AES-GCM runs its vectorised
        // code on arrays only (on direct buffers it falls back to GHASH in Java, a third of the speed at best)
        incoming = ByteBuffer.allocate(Math.max(OUTGOING_BYTES, s.getPacketBufferSize())).flip();
        plain = ByteBuffer.allocate(s.getApplicationBufferSize()).flip();
        outgoing = ByteBuffer.allocate(Math.max(OUTGOING_BYTES, 2 * s.getPacketBufferSize()));
    }

    @Override
    public void handshake() throws IOException {
        readLock.lock();
        try {
            synchronized (writeLock) {
                try {
                    engine.beginHandshake();
                    HandshakeStatus hs = engine.getHandshakeStatus();
                    while (hs != HandshakeStatus.FINISHED && hs != HandshakeStatus.NOT_HANDSHAKING) {
                        hs = switch (hs) {
                            case NEED_WRAP -> wrap(NOTHING);
                            case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> unwrapDuringHandshake();
                            case NEED_TASK -> runTasks();
                            default -> throw new IllegalStateException("handshake status " + hs);
                        };
                    }
                } catch (SSLException e) {
                    sendAlert();
                    throw failure(e);
                }
            }
        } finally {
            readLock.unlock();
        }
        check.check(engine.getSession());
    }

    private HandshakeStatus unwrapDuringHandshake() throws IOException {
        SSLEngineResult r = unwrap();
        if (r.getStatus() == SSLEngineResult.Status.BUFFER_UNDERFLOW) {
            if (!fill()) {
                throw new TlsException("TLS handshake failed: the peer closed the connection (" + raw.describe() + ")");
            }
        } else if (r.getStatus() == SSLEngineResult.Status.CLOSED) {
            throw new TlsException("TLS handshake failed: the peer ended the session (" + raw.describe() + ")");
        }
        return r.getHandshakeStatus();
    }

    private HandshakeStatus runTasks() {
        Runnable task;
        while ((task = engine.getDelegatedTask()) != null) {
            task.run();
        }
        return engine.getHandshakeStatus();
    }

    /** The alert the engine has for a failed handshake, so that the peer learns why; best effort. */
    private void sendAlert() {
        try {
            outgoing.clear();
            engine.wrap(NOTHING, outgoing);
            flush();
        } catch (IOException | RuntimeException ignored) {
            // the peer may be gone already: the failure is reported here either way
        }
    }

    /**
     * The message of a failed handshake: a check of ours (a TlsException in the causes) speaks for itself, in
     * QEMU's words; otherwise the JDK's reason.
     */
    private TlsException failure(SSLException e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof TlsException tls) {
                return new TlsException(tls.getMessage(), e);
            }
        }
        return new TlsException("TLS handshake failed: " + e.getMessage(), e);
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        readLock.lock();
        try {
            while (!plain.hasRemaining()) {
                if (ended) {
                    return -1;
                }
                SSLEngineResult r;
                // a record's worth of room in an array: decrypted straight into the caller's buffer, one copy fewer
                // (into a direct buffer the JDK's AES-GCM takes its slow path: there a copy is cheaper)
                boolean direct = dst.hasArray() && dst.remaining() >= plain.capacity();
                int before = dst.position();
                if (direct) {
                    r = unwrap(dst);
                } else {
                    plain.compact();
                    try {
                        r = unwrap(plain);
                    } finally {
                        plain.flip();
                    }
                }
                switch (r.getStatus()) {
                    case BUFFER_UNDERFLOW -> {
                        if (!fill()) {
                            ended = true; // no close_notify: the stream reader judges whether the stream was whole
                        }
                    }
                    case CLOSED -> ended = true;
                    default -> {
                    }
                }
                afterUnwrap(r.getHandshakeStatus());
                if (direct && dst.position() > before) {
                    return dst.position() - before;
                }
            }
            int n = Math.min(dst.remaining(), plain.remaining());
            dst.put(plain.slice(plain.position(), n));
            plain.position(plain.position() + n);
            return n;
        } finally {
            readLock.unlock();
        }
    }

    /** TLS 1.3 may answer a message after the handshake (a key update): that reply goes out under the write lock. */
    private void afterUnwrap(HandshakeStatus hs) throws IOException {
        if (hs == HandshakeStatus.NEED_TASK) {
            hs = runTasks();
        }
        if (hs == HandshakeStatus.NEED_WRAP) {
            synchronized (writeLock) {
                wrap(NOTHING);
            }
        }
    }

    /** Unwraps from {@code incoming} into {@code plain} (both already in the mode the engine needs). */
    private SSLEngineResult unwrap() throws SSLException {
        return unwrap(plain);
    }

    /** Unwraps from {@code incoming} into {@code target} (in write mode). */
    private SSLEngineResult unwrap(ByteBuffer target) throws SSLException {
        if (!incoming.hasRemaining()) {
            return new SSLEngineResult(SSLEngineResult.Status.BUFFER_UNDERFLOW, engine.getHandshakeStatus(), 0, 0);
        }
        return engine.unwrap(incoming, target);
    }

    /** Reads more records from the raw channel; false at its end. */
    private boolean fill() throws IOException {
        incoming.compact();
        try {
            return raw.read(incoming) >= 0;
        } finally {
            incoming.flip();
        }
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        synchronized (writeLock) {
            int n = src.remaining();
            while (src.hasRemaining()) {
                wrap(src);
            }
            return n;
        }
    }

    /** Gathers the buffers into full records (a page header and its page share one), as one write. */
    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        synchronized (writeLock) {
            long n = 0;
            for (int i = offset; i < offset + length; i++) {
                n += srcs[i].remaining();
            }
            outgoing.clear();
            long left = n;
            while (left > 0) {
                SSLEngineResult r = engine.wrap(srcs, offset, length, outgoing);
                left -= r.bytesConsumed();
                switch (r.getStatus()) {
                    case BUFFER_OVERFLOW -> flush();
                    case CLOSED -> {
                        flush();
                        throw new TlsException("TLS session to " + raw.describe() + " is closed");
                    }
                    default -> {
                    }
                }
            }
            flush();
            return n;
        }
    }

    /** Wraps what fits of {@code src} into records, writing them out whenever the buffer fills, and at the end. */
    private HandshakeStatus wrap(ByteBuffer src) throws IOException {
        outgoing.clear();
        SSLEngineResult r;
        do {
            r = engine.wrap(src, outgoing);
            if (r.getStatus() == SSLEngineResult.Status.BUFFER_OVERFLOW) {
                flush();
            } else if (r.getStatus() == SSLEngineResult.Status.CLOSED && src.hasRemaining()) {
                flush();
                throw new TlsException("TLS session to " + raw.describe() + " is closed");
            }
        } while (src.hasRemaining() && r.getHandshakeStatus() != HandshakeStatus.NEED_UNWRAP
                && r.getStatus() != SSLEngineResult.Status.CLOSED);
        flush();
        return r.getHandshakeStatus();
    }

    private void flush() throws IOException {
        outgoing.flip();
        try {
            while (outgoing.hasRemaining()) {
                raw.write(outgoing);
            }
        } catch (IOException e) {
            throw refusal(e);
        } finally {
            outgoing.clear();
        }
    }

    /**
     * Why a write failed when the peer ended the session with an alert: in TLS 1.3 a client's handshake is done
     * before the server has judged its certificate, so a refusal (no certificate, one the server's CA did not sign,
     * a name its authz denies) arrives as an alert on the connection, seen only at the next read. That read is
     * tried here unless another thread is reading (it then meets the alert itself); the connection is broken, so it
     * returns at once.
     */
    private IOException refusal(IOException writeFailure) {
        if (!readLock.tryLock()) {
            return writeFailure;
        }
        try {
            while (!ended) { // application bytes are dropped: the session is over
                plain.clear();
                SSLEngineResult r;
                try {
                    r = unwrap();
                } finally {
                    plain.flip();
                }
                if (r.getStatus() == SSLEngineResult.Status.CLOSED) {
                    break;
                }
                if (r.getStatus() == SSLEngineResult.Status.BUFFER_UNDERFLOW && !fill()) {
                    break;
                }
            }
        } catch (SSLException alert) {
            return new TlsException("the peer ended the TLS session: " + alert.getMessage(), writeFailure);
        } catch (IOException | RuntimeException e) {
            // nothing more to learn: the write's failure is the reason
        } finally {
            readLock.unlock();
        }
        return writeFailure;
    }

    @Override
    public void closeOutbound() throws IOException {
        synchronized (writeLock) {
            engine.closeOutbound();
            try {
                wrap(NOTHING);
            } catch (IOException e) {
                // a peer that already closed needs no close_notify: what it read is judged by the migration's end
            }
            raw.shutdownOutput();
        }
    }

    @Override
    public String describe() {
        SSLSession s = engine.getSession();
        return s.getProtocol() + " " + s.getCipherSuite();
    }
}
