package dev.livemig.qmp;

import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * One connected QMP client: greeting, then one response per message, with events interleaved by the
 * server. Reading happens on the session's own thread; everything sent goes through a bounded outbox
 * written by a second virtual thread, so that a client which stops reading never blocks the thread that
 * raised an event (a migration, another client's command): when its outbox is full the client is dropped.
 * Any I/O failure ends only this session.
 */
final class QmpSession implements Runnable {
    /** Messages not yet written; beyond this many the client is not reading and is dropped. */
    static final int OUTBOX_LIMIT = 1024;
    private static final Duration FLUSH_TIMEOUT = Duration.ofSeconds(2);

    private final SocketChannel channel;
    private final QmpServer server;
    private final QmpDispatcher dispatcher;
    /** Marks the end of the outbox; compared by identity. */
    private final Json.Obj end = Json.object().build();
    private final BlockingQueue<Json.Obj> outbox = new ArrayBlockingQueue<>(OUTBOX_LIMIT + 1);
    private volatile Thread writer;
    private volatile boolean negotiated;

    QmpSession(SocketChannel channel, QmpServer server, QmpDispatcher dispatcher) {
        this.channel = channel;
        this.server = server;
        this.dispatcher = dispatcher;
    }

    @Override
    public void run() {
        writer = Thread.ofVirtual().name(Thread.currentThread().getName() + "-writer").start(this::writeLoop);
        try {
            send(QmpServer.greeting());
            var framer = new MessageFramer(new ChannelInput(channel), QmpServer.MAX_MESSAGE_BYTES);
            String text;
            while ((text = nextMessage(framer)) != null) {
                QmpDispatcher.Reply reply = dispatcher.dispatch(text, negotiated);
                negotiated = reply.negotiated();
                send(reply.response());
                if (server.quitRequested()) {
                    // closing here (close() skips joining this thread) keeps the order: reply, SHUTDOWN, end
                    server.close();
                    return;
                }
            }
        } catch (IOException e) {
            // the client went away or broke the protocol: only this session ends
        } finally {
            finish();
            server.forget(this);
        }
    }

    /** The next message, or null to end the session; an oversized one is answered, then the client is dropped. */
    private String nextMessage(MessageFramer framer) throws IOException {
        try {
            return framer.next();
        } catch (MessageFramer.OversizedMessageException e) {
            send(QmpDispatcher.error(null, QmpException.generic(e.getMessage())));
            return null;
        }
    }

    private void send(Json.Obj message) throws IOException {
        if (!enqueue(message)) {
            throw new IOException("QMP client is not reading its responses");
        }
    }

    /** Queues an event once the client has negotiated (QEMU's rule); a client too far behind is dropped rather than waited for. */
    void sendEvent(Json.Obj event) {
        if (negotiated && !enqueue(event)) {
            close();
        }
    }

    /** Keeps the last slot of the outbox for the end marker, so that a flush can always be asked for. */
    private boolean enqueue(Json.Obj message) {
        return outbox.size() < OUTBOX_LIMIT && outbox.offer(message);
    }

    private void writeLoop() {
        try {
            Json.Obj message;
            while ((message = outbox.take()) != end) {
                // QEMU ends every line with CRLF
                ByteBuffer bytes = ByteBuffer.wrap((JsonWriter.compact(message) + "\r\n").getBytes(StandardCharsets.UTF_8));
                while (bytes.hasRemaining()) {
                    channel.write(bytes);
                }
            }
        } catch (IOException | InterruptedException e) {
            close(); // the reader then fails too and ends the session
        }
    }

    /** Waits (bounded) until everything queued so far is written; the writer then stops. */
    private void flush() {
        Thread w = writer;
        outbox.offer(end); // fails only if racing producers took the spare slot; the join is bounded anyway
        if (w != null && w != Thread.currentThread()) {
            try {
                w.join(FLUSH_TIMEOUT);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Writes what is queued (bounded), then closes: used when this session or the whole server ends. */
    void finish() {
        flush();
        close();
    }

    /** Closes the socket and stops the writer, which may be waiting for a message that will never come. */
    void close() {
        Thread w = writer;
        if (w != null && w != Thread.currentThread()) {
            w.interrupt();
        }
        try {
            channel.close();
        } catch (IOException e) {
            // the socket is unusable either way
        }
    }

    /**
     * Reads through {@link SocketChannel#read} rather than {@code Channels.newInputStream}, whose stream may
     * hold the channel's blocking lock while blocked in read and so stall a concurrent event write.
     */
    private static final class ChannelInput extends InputStream {
        private final SocketChannel channel;
        private final ByteBuffer buf = ByteBuffer.allocate(8192).flip();

        ChannelInput(SocketChannel channel) {
            this.channel = channel;
        }

        @Override
        public int read() throws IOException {
            if (!buf.hasRemaining()) {
                buf.clear();
                int n = channel.read(buf);
                buf.flip();
                if (n < 0) {
                    return -1;
                }
            }
            return buf.hasRemaining() ? buf.get() & 0xff : read();
        }
    }
}
