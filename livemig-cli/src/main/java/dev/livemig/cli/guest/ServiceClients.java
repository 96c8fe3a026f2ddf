package dev.livemig.cli.guest;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

/**
 * The demo's load generator for {@link CounterService}: a few clients, each on one connection, each sending a
 * request, waiting for its answer and sending the next after a short pause, for as long as it runs. It counts what a
 * user of the service would see: requests answered, requests that failed (an error, the connection closed, no answer
 * within {@link #ANSWER_TIMEOUT_MS}), the latency of each; and it checks the answers: each client's must grow, and
 * all together they must count every answered request exactly once (the highest answer equals their number).
 */
public final class ServiceClients implements AutoCloseable {
    public static final int ANSWER_TIMEOUT_MS = 10_000;
    private final List<Client> clients = new ArrayList<>();
    private volatile boolean stop;

    /** The figures of a run; latencies in nanoseconds. */
    public record Report(int clients, long answered, long failed, long maxLatencyNanos, long p99LatencyNanos,
                         long highestAnswer, long outOfOrder) {
        /** Every answered request counted exactly once by the service (meaningful when none failed). */
        public boolean countsAgree() {
            return highestAnswer == answered;
        }
    }

    private ServiceClients() {
    }

    /** {@code count} clients of the service at {@code address}, each sending a request every {@code pauseMicros}. */
    public static ServiceClients start(InetSocketAddress address, int count, long pauseMicros) throws IOException {
        var all = new ServiceClients();
        try {
            for (int i = 0; i < count; i++) {
                all.clients.add(new Client(address, pauseMicros, all));
            }
        } catch (IOException e) {
            all.close();
            throw e;
        }
        all.clients.forEach(Client::start);
        return all;
    }

    /** Stops every client after its current request and reports. */
    public Report stop() throws InterruptedException {
        stop = true;
        long answered = 0;
        long failed = 0;
        long highest = 0;
        long outOfOrder = 0;
        var latencies = new ArrayList<long[]>();
        for (Client c : clients) {
            c.thread.join(ANSWER_TIMEOUT_MS + 5_000L);
            answered += c.answered;
            failed += c.failed;
            highest = Math.max(highest, c.lastAnswer);
            outOfOrder += c.outOfOrder;
            latencies.add(Arrays.copyOf(c.latencies, c.count));
        }
        long[] all = latencies.stream().flatMapToLong(Arrays::stream).sorted().toArray();
        long max = all.length == 0 ? 0 : all[all.length - 1];
        long p99 = all.length == 0 ? 0 : all[(int) Math.min(all.length - 1, Math.ceil(all.length * 0.99) - 1)];
        return new Report(clients.size(), answered, failed, max, p99, highest, outOfOrder);
    }

    @Override
    public void close() {
        stop = true;
        for (Client c : clients) {
            c.closeSocket();
        }
    }

    private static final class Client {
        private final InetSocketAddress address;
        private final long pauseNanos;
        private final ServiceClients owner;
        private Socket socket;
        private DataInputStream in;
        private DataOutputStream out;
        private Thread thread;
        long answered;
        long failed;
        long lastAnswer;
        long outOfOrder;
        long[] latencies = new long[1 << 14];
        int count;

        Client(InetSocketAddress address, long pauseMicros, ServiceClients owner) throws IOException {
            this.address = address;
            this.pauseNanos = pauseMicros * 1_000;
            this.owner = owner;
            connect();
        }

        private void connect() throws IOException {
            socket = new Socket();
            socket.setTcpNoDelay(true);
            socket.setSoTimeout(ANSWER_TIMEOUT_MS);
            socket.connect(address, ANSWER_TIMEOUT_MS);
            in = new DataInputStream(socket.getInputStream());
            out = new DataOutputStream(socket.getOutputStream());
        }

        void start() {
            thread = Thread.ofPlatform().name("demo-service-client").daemon().start(this::run);
        }

        private void run() {
            long sequence = 0;
            while (!owner.stop) {
                long t0 = System.nanoTime();
                try {
                    out.writeLong(++sequence);
                    out.flush();
                    long answer = in.readLong();
                    record(System.nanoTime() - t0);
                    answered++;
                    if (answer <= lastAnswer) {
                        outOfOrder++;
                    }
                    lastAnswer = Math.max(lastAnswer, answer);
                } catch (IOException e) {
                    failed++;
                    closeSocket();
                    if (owner.stop) {
                        return;
                    }
                    try {
                        connect(); // a user would try again
                    } catch (IOException again) {
                        LockSupport.parkNanos(10_000_000);
                    }
                }
                LockSupport.parkNanos(pauseNanos);
            }
            closeSocket();
        }

        private void record(long nanos) {
            if (count == latencies.length) {
                latencies = Arrays.copyOf(latencies, count * 2);
            }
            latencies[count++] = nanos;
        }

        void closeSocket() {
            try {
                if (socket != null) {
                    socket.close();
                }
            } catch (IOException e) {
                // closing
            }
        }
    }
}
