package dev.livemig.qmp;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParser;
import dev.livemig.testing.Await;

import java.io.IOException;
import java.net.SocketAddress;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A deliberately dumb QMP peer for tests that must send what a proper client never would (bad JSON,
 * commands before negotiation, oversized or half messages). Lines are read on a daemon thread so that every
 * wait is bounded; end of stream shows up as {@link #EOF}.
 */
final class RawQmp implements AutoCloseable {
    static final String EOF = "<eof>";
    private static final Duration WAIT = Await.DEADLINE;

    private final SocketChannel channel;
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();

    RawQmp(SocketAddress address) throws IOException {
        channel = SocketChannel.open(address);
        Thread.ofPlatform().daemon().name("raw-qmp-reader").start(this::readLoop);
    }

    private void readLoop() {
        var pending = new StringBuilder();
        ByteBuffer buf = ByteBuffer.allocate(8192);
        try {
            while (channel.read(buf.clear()) >= 0) {
                pending.append(StandardCharsets.UTF_8.decode(buf.flip()));
                int nl;
                while ((nl = pending.indexOf("\n")) >= 0) {
                    lines.add(pending.substring(0, nl).strip());
                    pending.delete(0, nl + 1);
                }
            }
        } catch (IOException e) {
            // a reset counts as the end of the conversation
        }
        lines.add(EOF);
    }

    void send(String text) throws IOException {
        send(text.getBytes(StandardCharsets.UTF_8));
    }

    /** Sends bytes as they are, valid UTF-8 or not. */
    void send(byte[] bytes) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        while (b.hasRemaining()) {
            channel.write(b);
        }
    }

    /** The next line as it came, or {@link #EOF}; fails after a bounded wait. */
    String line() throws Exception {
        String l = lines.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        if (l == null) {
            throw new SocketTimeoutException("no line from the QMP server within " + WAIT);
        }
        return l;
    }

    Json.Obj message() throws Exception {
        String l = line();
        if (l.equals(EOF)) {
            throw new IOException("connection ended");
        }
        return JsonParser.parse(l).asObject();
    }

    /** Sends a line and returns the response (skipping nothing: the caller chose a quiet moment). */
    Json.Obj ask(String text) throws Exception {
        send(text + "\n");
        return message();
    }

    /** Reads the greeting and negotiates. */
    RawQmp negotiated() throws Exception {
        message();
        Json.Obj r = ask("{\"execute\": \"qmp_capabilities\"}");
        if (!r.has("return")) {
            throw new IOException("negotiation failed: " + r);
        }
        return this;
    }

    /** Closes the socket at once, as a crashing client would. */
    @Override
    public void close() throws IOException {
        channel.close();
    }

    static String errorClass(Json.Obj response) {
        return response.get("error").orElseThrow().asObject().string("class");
    }

    static String desc(Json.Obj response) {
        return response.get("error").orElseThrow().asObject().string("desc");
    }
}
