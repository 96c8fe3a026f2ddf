package dev.livemig.qmp;

import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;

import java.io.IOException;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One connected QMP client: greeting, then one response per message, with events interleaved by the
 * server. Reading happens on the session's own thread; everything sent goes through an {@link Outbox} that a
 * second virtual thread writes, so that a client which stops reading never blocks the thread that raised an
 * event (a migration, another client's command): past {@link QmpLimits#maxPendingOutputBytes()} the client is
 * dropped, and the server's log says so. Any I/O failure ends only this session.
 */
final class QmpSession implements Runnable {
    private static final System.Logger LOG = System.getLogger(QmpSession.class.getName());
    /** How long a client that closed its sending side (socat does) gets to read what it was still sent. */
    private static final Duration LINGER = Duration.ofSeconds(5);

    private final SocketChannel channel;
    private final QmpServer server;
    private final QmpDispatcher dispatcher;
    private final QmpLimits limits;
    private final ByteBudget inputBudget;
    private final String name;
    private final Outbox outbox;
    private final Thread writer;
    private final AtomicBoolean dropped = new AtomicBoolean();
    private volatile boolean negotiated;

    /** What the client passed with its messages (unix sockets only), for getfd. */
    private final PassedDescriptors passed = new PassedDescriptors();
    private final boolean receivesDescriptors;

    /**
     * {@code receivesDescriptors}: the client is on a unix socket, whose messages may carry descriptors (SCM_RIGHTS):
     * the session then reads with recvmsg, and must run on a platform thread (it blocks in native code).
     */
    QmpSession(SocketChannel channel, QmpServer server, QmpDispatcher dispatcher, QmpLimits limits, ByteBudget inputBudget,
               String name, boolean receivesDescriptors) {
        this.receivesDescriptors = receivesDescriptors;
        this.channel = channel;
        this.server = server;
        this.dispatcher = dispatcher;
        this.limits = limits;
        this.inputBudget = inputBudget;
        this.name = name;
        this.outbox = new Outbox(limits.maxPendingOutputBytes());
        this.writer = Thread.ofVirtual().name(name + "-writer").unstarted(this::writeLoop);
    }

    @Override
    public void run() {
        writer.start();
        var framer = new MessageFramer(receivesDescriptors ? dev.livemig.linux.UnixSocket.receivingFrom(channel, passed::arrived)
                : channel, limits.maxMessageBytes(), inputBudget);
        try {
            send(line(server.greeting()));
            byte[] text;
            while ((text = nextMessage(framer)) != null) {
                byte[] message = text;
                QmpDispatcher.Reply reply = ScopedValue.where(PassedDescriptors.SESSION, passed)
                        .call(() -> dispatcher.dispatch(message, negotiated));
                negotiated = reply.negotiated();
                send(line(reply.response()));
                if (server.quitRequestedBy(Thread.currentThread())) {
                    // closing here (close() skips joining this thread) keeps the order: reply, SHUTDOWN, end;
                    // another client's session closing it could end this outbox before the reply is in it
                    server.close();
                    return;
                }
            }
            endOutput();
            awaitOutputWritten(System.nanoTime() + LINGER.toNanos());
        } catch (IOException e) {
            // the client went away, broke the protocol or was dropped: only this session ends
        } finally {
            framer.release();
            close();
            passed.close();
            server.forget(this);
        }
    }

    /** The next message, or null to end the session; one that cannot be held is answered, then the client is closed. */
    private byte[] nextMessage(MessageFramer framer) throws IOException {
        try {
            return framer.next();
        } catch (MessageFramer.OversizedMessageException e) {
            LOG.log(System.Logger.Level.WARNING, "QMP client refused: client={0} reason={1}", name, e.getMessage());
            send(line(QmpDispatcher.error(null, QmpException.generic(e.getMessage()))));
            return null;
        }
    }

    private void send(byte[] line) throws IOException {
        if (outbox.offer(line) == Outbox.Offer.FULL) {
            drop();
            throw new IOException("QMP client is not reading its responses: client=" + name);
        }
    }

    /** Queues an event once the client has negotiated (QEMU's rule); a client too far behind is dropped rather than waited for. */
    void sendEvent(byte[] event) {
        if (negotiated && outbox.offer(event) == Outbox.Offer.FULL) {
            drop();
        }
    }

    private void drop() {
        if (dropped.compareAndSet(false, true)) {
            LOG.log(System.Logger.Level.WARNING, "QMP client dropped: client={0} reason=not reading its output pending-bytes={1} limit={2}",
                    name, outbox.pendingBytes(), limits.maxPendingOutputBytes());
            close();
        }
    }

    private void writeLoop() {
        try {
            outbox.drainTo(channel);
        } catch (IOException | InterruptedException e) {
            close(); // the reader then fails too and ends the session
        }
    }

    /** Takes no more output; what is queued is still written. */
    void endOutput() {
        outbox.end();
    }

    /** Waits until everything queued before {@link #endOutput()} is written, or until {@code deadlineNanos} (System.nanoTime). */
    void awaitOutputWritten(long deadlineNanos) {
        if (Thread.currentThread() == writer) {
            return;
        }
        try {
            long left = deadlineNanos - System.nanoTime();
            if (left > 0 && writer.isAlive()) {
                writer.join(Duration.ofNanos(left));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Bytes queued for this client and not yet written. */
    long pendingOutputBytes() {
        return outbox.pendingBytes();
    }

    /**
     * Closes the socket, which ends both threads, and forgets what was not written. The sending side is shut
     * first: what was written goes out ahead of the FIN. A bare close of a TCP socket with input still unread
     * sends a reset instead, which can discard replies the client has not read yet (the quit reply, SHUTDOWN).
     */
    void close() {
        outbox.discard();
        try {
            if (channel.isConnected()) {
                channel.shutdownOutput();
                if (receivesDescriptors) {
                    channel.shutdownInput(); // wakes the reader blocked in recvmsg, which the close alone would not
                }
            }
        } catch (IOException e) {
            // already broken: the close below is all there is to do
        }
        try {
            channel.close();
        } catch (IOException e) {
            // the socket is unusable either way
        }
    }

    /** A message as QEMU writes it: compact JSON ending with CRLF. */
    static byte[] line(Json.Obj message) {
        return (JsonWriter.compact(message) + "\r\n").getBytes(StandardCharsets.UTF_8);
    }
}
