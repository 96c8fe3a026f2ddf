package dev.livemig.qmp;

import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;

/**
 * One connected QMP client: greeting, then one response per message, with events interleaved by the
 * server. Reading happens only on the session's own thread; writes (responses and broadcast events) are
 * serialised on a lock so that lines never interleave. Any I/O failure ends only this session.
 */
final class QmpSession implements Runnable {
    private final SocketChannel channel;
    private final QmpServer server;
    private final QmpDispatcher dispatcher;
    private final Object writeLock = new Object();
    private volatile boolean negotiated;

    QmpSession(SocketChannel channel, QmpServer server, QmpDispatcher dispatcher) {
        this.channel = channel;
        this.server = server;
        this.dispatcher = dispatcher;
    }

    /** True once qmp_capabilities succeeded: only then does the client receive events (QEMU's rule). */
    boolean negotiated() {
        return negotiated;
    }

    @Override
    public void run() {
        try {
            send(QmpServer.greeting());
            var framer = new MessageFramer(new ChannelInput(channel), QmpServer.MAX_MESSAGE_BYTES);
            String text;
            while ((text = nextMessage(framer)) != null) {
                QmpDispatcher.Reply reply = dispatcher.dispatch(text, negotiated);
                negotiated = reply.negotiated();
                send(reply.response());
                if (server.quitRequested()) {
                    server.closeAsync();
                    return;
                }
            }
        } catch (IOException e) {
            // the client went away or broke the protocol: only this session ends
        } finally {
            close();
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

    void send(Json.Obj message) throws IOException {
        // QEMU ends every line with CRLF
        ByteBuffer bytes = ByteBuffer.wrap((JsonWriter.compact(message) + "\r\n").getBytes(StandardCharsets.UTF_8));
        synchronized (writeLock) {
            while (bytes.hasRemaining()) {
                channel.write(bytes);
            }
        }
    }

    /** Sends an event if negotiated; a failed write closes this session (its reader then ends). */
    void sendEvent(Json.Obj event) {
        if (!negotiated) {
            return;
        }
        try {
            send(event);
        } catch (IOException e) {
            close();
        }
    }

    void close() {
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
