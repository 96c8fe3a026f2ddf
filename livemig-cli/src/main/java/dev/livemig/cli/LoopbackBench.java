package dev.livemig.cli;

import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.concurrent.Callable;

/**
 * {@code livemig bench loopback}: what loopback TCP itself carries on this machine, one connection, 4 MiB
 * writes from off-heap memory into a reader that discards, as the ceiling a migration's throughput is judged
 * against (issue 5 wants multifd within 80% of it, measured in the same run).
 */
@Command(name = "loopback", mixinStandardHelpOptions = true,
        description = "Measure one loopback TCP stream's throughput and print one JSON line.")
final class LoopbackBench implements Callable<Integer> {
    private static final int CHUNK = 4 << 20;

    @Option(names = "--size", converter = Sizes.class, defaultValue = "4G", paramLabel = "SIZE", description = "Bytes to send.")
    long size;

    @Override
    public Integer call() throws Exception {
        long ns = transferNanos(size);
        double seconds = ns / 1e9;
        System.out.println(JsonWriter.compact(Json.object()
                .put("tool", "loopback-tcp")
                .put("bytes", size)
                .put("total_ms", (long) (seconds * 1000))
                .put("throughput_mib_s", (long) (size / 1048576.0 / seconds))
                .build()));
        return 0;
    }

    /** Sends {@code size} bytes over one loopback TCP connection; returns the nanoseconds until all arrived. */
    static long transferNanos(long size) throws IOException, InterruptedException {
        try (var server = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
            long[] received = new long[1];
            Thread reader = Thread.ofPlatform().name("loopback-reader").start(() -> received[0] = drain(server));
            long t0;
            try (var out = SocketChannel.open(server.getLocalAddress())) {
                ByteBuffer chunk = ByteBuffer.allocateDirect(CHUNK);
                t0 = System.nanoTime();
                for (long sent = 0; sent < size; ) {
                    chunk.clear().limit((int) Math.min(CHUNK, size - sent));
                    while (chunk.hasRemaining()) {
                        sent += out.write(chunk);
                    }
                }
            }
            reader.join();
            long t1 = System.nanoTime();
            if (received[0] != size) {
                throw new IOException("loopback reader got " + received[0] + " of " + size + " bytes");
            }
            return Math.max(1, t1 - t0);
        }
    }

    private static long drain(ServerSocketChannel server) {
        long total = 0;
        try (var in = server.accept()) {
            ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK);
            int n;
            while ((n = in.read(buf.clear())) >= 0) {
                total += n;
            }
        } catch (IOException e) {
            return -1;
        }
        return total;
    }
}
