package dev.livemig.qmp;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParseException;
import dev.livemig.json.JsonParser;
import dev.livemig.json.JsonWriter;
import dev.livemig.transport.MigrationUri;
import dev.livemig.wire.MigrationException;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.SocketTimeoutException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A QMP client over a unix or tcp socket, for QEMU's monitor or livemig's {@link QmpServer}. {@link #connect} reads the greeting and negotiates
 * {@code qmp_capabilities}; {@link #execute} sends one command and returns its {@code return} value or throws
 * {@link QmpError} with QEMU's error class and text. Asynchronous events (MIGRATION, STOP, RESUME, ...) are
 * queued in arrival order until {@link #awaitEvent} takes them.
 *
 * <p>A background thread owns the socket's read side, so that every wait can be bounded: a caller waits on
 * a condition with a deadline instead of blocking in {@code read}. When the connection ends (QEMU exited or
 * quit) every current and future wait fails with an {@link IOException} naming the cause. Thread-safe.
 */
public final class QmpClient implements AutoCloseable {
    /** Default bound for one command; pmemsave and migrate return quickly, the slow parts are polled. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(20);

    private final SocketChannel channel;
    private final Json.Obj greeting;
    private final Thread reader;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition arrived = lock.newCondition();
    private final Map<Long, Json.Obj> responses = new HashMap<>();
    private final List<Json.Obj> events = new ArrayList<>();
    private final Object writeLock = new Object();
    private long nextId = 1;
    private String closedBecause;

    private final byte[] leftover;

    private QmpClient(SocketChannel channel, Json.Obj greeting, byte[] leftover) {
        this.channel = channel;
        this.greeting = greeting;
        this.leftover = leftover;
        this.reader = Thread.ofPlatform().daemon().name("qmp-reader").unstarted(this::readLoop);
    }

    /**
     * Connects to a QMP server socket, retrying while the socket does not exist yet or refuses (QEMU creates it
     * during start-up), then completes the greeting and capabilities negotiation within {@code timeout}.
     */
    public static QmpClient connect(Path socket, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        SocketChannel ch = null;
        while (ch == null) {
            SocketChannel attempt = SocketChannel.open(StandardProtocolFamily.UNIX);
            try {
                attempt.connect(UnixDomainSocketAddress.of(socket));
                ch = attempt;
            } catch (IOException e) {
                attempt.close();
                if (System.nanoTime() > deadline) {
                    throw new SocketTimeoutException("QMP socket " + socket + " not accepting after " + timeout + ": " + e);
                }
                sleep(20);
            }
        }
        return handshake(ch, deadline);
    }

    /**
     * Connects to {@code address}, {@code unix:PATH} or {@code tcp:HOST:PORT} (an IPv6 host in brackets, as in
     * {@code tcp:[::1]:4444}), and completes the greeting and negotiation within {@code timeout}. Unlike
     * {@link #connect(Path, Duration)} it tries once: a person typed the address and wants to hear at once that
     * nothing listens there. Any other form of address is refused with IllegalArgumentException.
     */
    public static QmpClient connect(String address, Duration timeout) throws IOException {
        SocketAddress to = socketAddress(address);
        long deadline = System.nanoTime() + timeout.toNanos();
        // without a family the JDK picks the stack that reaches both IPv4 and IPv6 hosts
        SocketChannel ch = to instanceof UnixDomainSocketAddress ? SocketChannel.open(StandardProtocolFamily.UNIX)
                : SocketChannel.open();
        try {
            if (to instanceof UnixDomainSocketAddress) {
                ch.connect(to); // a unix connect is answered at once: there is a listener or there is not
            } else {
                // only the adaptor socket's connect takes a timeout, and a tcp peer may just drop the SYN
                ch.socket().connect(to, (int) Math.clamp(timeout.toMillis(), 1, Integer.MAX_VALUE));
            }
        } catch (IOException e) {
            ch.close();
            throw new IOException("cannot connect to QMP at " + address + ": " + describe(e), e);
        }
        return handshake(ch, deadline);
    }

    /** The socket address of {@code unix:PATH} or {@code tcp:HOST:PORT}, the socket forms of QEMU's -qmp. */
    static SocketAddress socketAddress(String address) {
        MigrationUri uri = null;
        if (address.startsWith("unix:") || address.startsWith("tcp:")) {
            try {
                uri = MigrationUri.parse(address); // the same syntax as a migration URI: one parser judges both
            } catch (MigrationException e) {
                throw new IllegalArgumentException("bad QMP address: " + e.getMessage(), e);
            }
        }
        return switch (uri) {
            case MigrationUri.Unix u -> UnixDomainSocketAddress.of(u.path());
            case MigrationUri.Tcp t when t.port() != 0 -> new InetSocketAddress(t.host(), t.port());
            case null, default -> throw new IllegalArgumentException(
                    "QMP address must be unix:PATH or tcp:HOST:PORT, not '" + address + "'");
        };
    }

    /** "Connection refused" rather than "java.net.ConnectException: Connection refused". */
    private static String describe(IOException e) {
        if (e instanceof java.net.UnknownHostException) {
            return "unknown host " + e.getMessage();
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    private static QmpClient handshake(SocketChannel ch, long deadline) throws IOException {
        // The greeting is read synchronously with a blocking channel before the reader thread exists; a watchdog
        // closes the channel if QEMU never sends it, which turns the blocked read into an exception.
        Thread watchdog = Thread.ofVirtual().start(() -> {
            try {
                Thread.sleep(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
                ch.close();
            } catch (InterruptedException e) {
                // The greeting arrived in time; nothing to close.
            } catch (IOException e) {
                // Closing is the whole point; a failure means the channel is already unusable.
            }
        });
        Json.Obj greeting;
        ByteArrayOutputStream pending = new ByteArrayOutputStream();
        try {
            String line = readLine(ch, pending);
            if (line == null) {
                throw new IOException("QMP connection closed before the greeting");
            }
            greeting = parseObject(line);
            if (!greeting.has("QMP")) {
                throw new IOException("not a QMP greeting: " + line);
            }
        } catch (IOException e) {
            ch.close();
            if (System.nanoTime() > deadline) {
                throw new SocketTimeoutException("no QMP greeting in time: " + e);
            }
            throw e;
        } finally {
            watchdog.interrupt();
        }
        QmpClient client = new QmpClient(ch, greeting, pending.toByteArray());
        client.reader.start();
        try {
            client.execute("qmp_capabilities", null, Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
        } catch (IOException e) {
            client.close();
            throw e;
        }
        return client;
    }

    /** The greeting object ({@code {"QMP": {"version": ..., "capabilities": [...]}}}). */
    public Json.Obj greeting() {
        return greeting;
    }

    /** {@link #execute(String, Json.Obj, Duration)} with {@link #DEFAULT_TIMEOUT}. */
    public Json execute(String command, Json.Obj arguments) throws IOException {
        return execute(command, arguments, DEFAULT_TIMEOUT);
    }

    /** A command without arguments. */
    public Json execute(String command) throws IOException {
        return execute(command, null, DEFAULT_TIMEOUT);
    }

    /**
     * Sends {@code command} with {@code arguments} (null for none) and waits at most {@code timeout} for its
     * response. Returns the {@code return} member; throws {@link QmpError} for an {@code error} response,
     * {@link SocketTimeoutException} on timeout, {@link IOException} when the connection is gone.
     */
    public Json execute(String command, Json.Obj arguments, Duration timeout) throws IOException {
        long id;
        lock.lock();
        try {
            failIfClosed(command);
            id = nextId++;
        } finally {
            lock.unlock();
        }
        Json.ObjBuilder msg = Json.object().put("execute", command);
        if (arguments != null) {
            msg.put("arguments", arguments);
        }
        msg.put("id", id);
        byte[] bytes = (JsonWriter.compact(msg.build()) + "\n").getBytes(StandardCharsets.UTF_8);
        synchronized (writeLock) {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) {
                channel.write(b);
            }
        }
        Json.Obj response = awaitResponse(command, id, timeout);
        if (response.get("error").orElse(null) instanceof Json.Obj err) {
            throw new QmpError(command, err.get("class").map(Json::asString).orElse("?"),
                    err.get("desc").map(Json::asString).orElse("?"));
        }
        return response.get("return").orElseThrow(() -> new IOException("QMP response without return: " + JsonWriter.compact(response)));
    }

    private Json.Obj awaitResponse(String command, long id, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        lock.lock();
        try {
            while (true) {
                Json.Obj r = responses.remove(id);
                if (r != null) {
                    return r;
                }
                failIfClosed(command);
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new SocketTimeoutException("no QMP response to " + command + " within " + timeout);
                }
                arrived.awaitNanos(left);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted waiting for " + command, e);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Removes and returns the oldest queued event named {@code name} (e.g. {@code MIGRATION}), waiting up to
     * {@code timeout} for one to arrive. Events of other names stay queued.
     */
    public Json.Obj awaitEvent(String name, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        lock.lock();
        try {
            while (true) {
                for (Iterator<Json.Obj> it = events.iterator(); it.hasNext(); ) {
                    Json.Obj e = it.next();
                    if (name.equals(e.string("event"))) {
                        it.remove();
                        return e;
                    }
                }
                failIfClosed("event " + name);
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new SocketTimeoutException("no QMP event " + name + " within " + timeout);
                }
                arrived.awaitNanos(left);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted waiting for event " + name, e);
        } finally {
            lock.unlock();
        }
    }

    /** The events queued so far, oldest first, without removing them. */
    public List<Json.Obj> pendingEvents() {
        lock.lock();
        try {
            return List.copyOf(events);
        } finally {
            lock.unlock();
        }
    }

    /** Why the connection ended, or null while it is open. */
    public String closedBecause() {
        lock.lock();
        try {
            return closedBecause;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // Closing a unix socket only fails if it is already broken; either way it is gone.
        }
        markClosed("closed by client");
        try {
            reader.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void readLoop() {
        ByteArrayOutputStream pending = new ByteArrayOutputStream();
        pending.writeBytes(leftover);
        String why = "QMP connection closed by QEMU";
        try {
            while (true) {
                String line = readLine(channel, pending);
                if (line == null) {
                    break;
                }
                if (line.isBlank()) {
                    continue;
                }
                Json.Obj msg = parseObject(line);
                lock.lock();
                try {
                    if (msg.has("event")) {
                        events.add(msg);
                    } else if (msg.get("id").orElse(null) instanceof Json.Num n) {
                        responses.put(Long.parseLong(n.text()), msg);
                    }
                    arrived.signalAll();
                } finally {
                    lock.unlock();
                }
            }
        } catch (IOException e) {
            why = "QMP connection failed: " + e;
        }
        markClosed(why);
    }

    private void markClosed(String why) {
        lock.lock();
        try {
            if (closedBecause == null) {
                closedBecause = why;
            }
            arrived.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private void failIfClosed(String what) throws IOException {
        if (closedBecause != null) {
            throw new IOException(what + ": " + closedBecause);
        }
    }

    /** One '\n'-terminated line (QEMU ends lines with "\r\n"), or null at end of stream. */
    private static String readLine(SocketChannel ch, ByteArrayOutputStream pending) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(8192);
        while (true) {
            byte[] have = pending.toByteArray();
            for (int i = 0; i < have.length; i++) {
                if (have[i] == '\n') {
                    pending.reset();
                    pending.write(have, i + 1, have.length - i - 1);
                    return new String(have, 0, i, StandardCharsets.UTF_8).strip();
                }
            }
            buf.clear();
            int n = ch.read(buf);
            if (n < 0) {
                return null;
            }
            pending.write(buf.array(), 0, n);
        }
    }

    private static Json.Obj parseObject(String line) throws IOException {
        try {
            return JsonParser.parse(line).asObject();
        } catch (JsonParseException | IllegalArgumentException e) {
            throw new IOException("malformed QMP message: " + line, e);
        }
    }

    private static void sleep(long ms) throws IOException {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }
}
