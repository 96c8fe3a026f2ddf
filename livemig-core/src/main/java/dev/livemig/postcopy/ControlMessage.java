package dev.livemig.postcopy;

import dev.livemig.linux.UnixSocket;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * What the guest's JVM and its page server tell each other on their Unix socket, one framed message each
 * (u8 type, be32 length, payload). Both ends are livemig of the same build, so the layout is private to it;
 * lengths are still bounded, as for any input.
 */
sealed interface ControlMessage {
    int MAX_PAYLOAD = 64 << 20;

    /** A RAM block of the guest: its name on the wire, its address in the guest's process, its length. */
    record Block(String name, long address, long length) {
    }

    /**
     * Guest → server, after the descriptors: what the userfaultfd's handshake granted, the RAM section's id on
     * the stream, the blocks, and per block the pages still to come (one bit per target page, LSB first); where to
     * await a source that resumes after a cut by itself (the incoming address; empty: only on migrate-recover) and
     * whether it brings a preempt channel.
     */
    record Setup(long uffdFeatures, int ramSectionId, List<Block> blocks, List<long[]> missing, String recoverAddress,
                 boolean preempt) implements ControlMessage {
    }

    /** Guest → server: stream bytes the guest had read past the package; the server reads them first. */
    record Leftover(byte[] bytes) implements ControlMessage {
    }

    /** Guest → server: answer PING({@code value}) on the return path (PINGs inside the package). */
    record Pong(int value) implements ControlMessage {
    }

    /** Guest → server: the load is over; send SHUT({@code status}) and exit. */
    record Shut(int status) implements ControlMessage {
    }

    /**
     * Guest → server: the postcopy-preempt channel's descriptor follows (one SCM_RIGHTS marker byte); requested
     * pages arrive there.
     */
    record Preempt() implements ControlMessage {
    }

    /** Guest → server: migrate-recover: listen on {@code uri} for the source that resumes; answered by {@link Listening}. */
    record Recover(String uri) implements ControlMessage {
    }

    /** Server → guest: where it listens for the recovery ({@code address}), or why it cannot ({@code error}). */
    record Listening(String address, String error) implements ControlMessage {
    }

    /** Server → guest: the source reconnected; the recovery handshake runs. */
    record Recovering() implements ControlMessage {
    }

    /** Server → guest: the link failed ({@code reason}); every waiting guest thread keeps waiting for recovery. */
    record Paused(String reason) implements ControlMessage {
    }

    /** Server → guest: POSTCOPY_RESUME came on the recovered channel; pages flow again. */
    record Resumed() implements ControlMessage {
    }

    /** Server → guest: the stream reached EOF with every page placed; the figures of {@link FaultFigures}. */
    record Done(long pagesPlaced, long pagesOnPreempt, FaultFigures figures) implements ControlMessage {
    }

    /** Server → guest: the stream failed; {@code message} says where and why. */
    record Failed(String message) implements ControlMessage {
    }

    static void write(UnixSocket socket, ControlMessage m) throws IOException {
        var bytes = new ByteArrayOutputStream();
        var out = new DataOutputStream(bytes);
        int type = switch (m) {
            case Setup s -> {
                out.writeLong(s.uffdFeatures());
                out.writeInt(s.ramSectionId());
                out.writeInt(s.blocks().size());
                for (int i = 0; i < s.blocks().size(); i++) {
                    Block b = s.blocks().get(i);
                    out.writeUTF(b.name());
                    out.writeLong(b.address());
                    out.writeLong(b.length());
                    long[] words = s.missing().get(i);
                    out.writeInt(words.length);
                    for (long w : words) {
                        out.writeLong(w);
                    }
                }
                out.writeUTF(s.recoverAddress());
                out.writeBoolean(s.preempt());
                yield 1;
            }
            case Leftover l -> {
                out.write(l.bytes());
                yield 2;
            }
            case Pong p -> {
                out.writeInt(p.value());
                yield 3;
            }
            case Shut s -> {
                out.writeInt(s.status());
                yield 4;
            }
            case Done d -> {
                FaultFigures f = d.figures();
                out.writeLong(d.pagesPlaced());
                out.writeLong(d.pagesOnPreempt());
                out.writeLong(f.faults());
                out.writeLong(f.requests());
                out.writeLong(f.latencyP50Nanos());
                out.writeLong(f.latencyP99Nanos());
                out.writeLong(f.blocktimeNanos());
                out.writeInt(f.threads().size());
                for (FaultFigures.ThreadBlocktime t : f.threads()) {
                    out.writeLong(t.threadId());
                    out.writeLong(t.nanos());
                }
                out.writeInt(f.latencyHistogram().length);
                for (long n : f.latencyHistogram()) {
                    out.writeLong(n);
                }
                yield 5;
            }
            case Failed f -> {
                out.write(f.message().getBytes(StandardCharsets.UTF_8));
                yield 6;
            }
            case Preempt p -> 7;
            case Recover r -> {
                out.writeUTF(r.uri());
                yield 8;
            }
            case Listening l -> {
                out.writeUTF(l.address());
                out.writeUTF(l.error());
                yield 11;
            }
            case Recovering r -> 12;
            case Paused p -> {
                out.write(p.reason().getBytes(StandardCharsets.UTF_8));
                yield 9;
            }
            case Resumed r -> 10;
        };
        byte[] payload = bytes.toByteArray();
        var frame = new ByteArrayOutputStream(5 + payload.length);
        var f = new DataOutputStream(frame);
        f.writeByte(type);
        f.writeInt(payload.length);
        f.write(payload);
        socket.write(frame.toByteArray());
    }

    static ControlMessage read(UnixSocket socket) throws IOException {
        byte[] head = new byte[5];
        socket.readFully(head);
        int type = head[0] & 0xff;
        int length = ((head[1] & 0xff) << 24) | ((head[2] & 0xff) << 16) | ((head[3] & 0xff) << 8) | (head[4] & 0xff);
        if (length < 0 || length > MAX_PAYLOAD) {
            throw new IOException("control message of " + length + " bytes");
        }
        byte[] payload = new byte[length];
        socket.readFully(payload);
        var in = new DataInputStream(new ByteArrayInputStream(payload));
        return switch (type) {
            case 1 -> {
                long features = in.readLong();
                int section = in.readInt();
                int n = in.readInt();
                if (n < 0 || n > 1 << 16) {
                    throw new IOException("control message with " + n + " blocks");
                }
                var blocks = new ArrayList<Block>(n);
                var missing = new ArrayList<long[]>(n);
                for (int i = 0; i < n; i++) {
                    blocks.add(new Block(in.readUTF(), in.readLong(), in.readLong()));
                    int words = in.readInt();
                    if (words < 0 || words > length / 8) {
                        throw new IOException("control message with a bitmap of " + words + " words");
                    }
                    long[] bits = new long[words];
                    for (int w = 0; w < words; w++) {
                        bits[w] = in.readLong();
                    }
                    missing.add(bits);
                }
                yield new Setup(features, section, blocks, missing, in.readUTF(), in.readBoolean());
            }
            case 2 -> new Leftover(payload);
            case 3 -> new Pong(in.readInt());
            case 4 -> new Shut(in.readInt());
            case 5 -> {
                long placed = in.readLong();
                long onPreempt = in.readLong();
                long faults = in.readLong();
                long requests = in.readLong();
                long p50 = in.readLong();
                long p99 = in.readLong();
                long blocktime = in.readLong();
                int threads = in.readInt();
                if (threads < 0 || threads > length / 16) {
                    throw new IOException("control message with " + threads + " threads");
                }
                var each = new ArrayList<FaultFigures.ThreadBlocktime>(threads);
                for (int i = 0; i < threads; i++) {
                    each.add(new FaultFigures.ThreadBlocktime(in.readLong(), in.readLong()));
                }
                int buckets = in.readInt();
                if (buckets < 0 || buckets > 64) {
                    throw new IOException("control message with " + buckets + " histogram buckets");
                }
                long[] histogram = new long[buckets];
                for (int i = 0; i < buckets; i++) {
                    histogram[i] = in.readLong();
                }
                yield new Done(placed, onPreempt, new FaultFigures(faults, requests, p50, p99, blocktime, each, histogram));
            }
            case 6 -> new Failed(new String(payload, StandardCharsets.UTF_8));
            case 7 -> new Preempt();
            case 8 -> new Recover(in.readUTF());
            case 9 -> new Paused(new String(payload, StandardCharsets.UTF_8));
            case 10 -> new Resumed();
            case 11 -> new Listening(in.readUTF(), in.readUTF());
            case 12 -> new Recovering();
            default -> throw new IOException("unknown control message type " + type);
        };
    }
}
