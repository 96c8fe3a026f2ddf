package dev.livemig.wire.format;

import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;

import dev.livemig.wire.format.ReturnPathMessage.*;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * The return-path message layout (format reference §11.3): be16 type, be16 {@code len}, {@code len} payload
 * bytes, both ways. Reading applies the source's rules from QEMU's return-path thread: type 0 and unknown
 * types are rejected, then a fixed-length type with another {@code len} and any {@code len} above
 * {@link #MAX_LENGTH}, both before a payload byte is read; RESUME_ACK must carry 1. Types 1-6 are QEMU 7.2's;
 * type 7 (SWITCHOVER_ACK) is 8.1+ and only arrives when the source enabled switchover-ack.
 *
 * <p>Two checks are stricter than 7.2, which trusts the name length byte inside a C buffer: RECV_BITMAP's
 * {@code len} must be exactly 1 + name length, and block names with NUL are refused (QEMU would look up a
 * shorter name); an empty name, which QEMU fails to look up, is refused here already. {@link #write} throws {@link IllegalArgumentException} for a message the reader would
 * refuse; {@link #read} throws only {@link MigrationException}. Neither flushes nor keeps state.
 */
public final class ReturnPathCodec {
    /** QEMU's MIG_RP_MSG_SHUT: {@link Shut}. */
    public static final int SHUT = 1;
    /** MIG_RP_MSG_PONG: {@link Pong}. */
    public static final int PONG = 2;
    /** MIG_RP_MSG_REQ_PAGES_ID: {@link ReqPagesId}. */
    public static final int REQ_PAGES_ID = 3;
    /** MIG_RP_MSG_REQ_PAGES: {@link ReqPages}. */
    public static final int REQ_PAGES = 4;
    /** MIG_RP_MSG_RECV_BITMAP: {@link RecvBitmap}. */
    public static final int RECV_BITMAP = 5;
    /** MIG_RP_MSG_RESUME_ACK: {@link ResumeAck}. */
    public static final int RESUME_ACK = 6;
    /** MIG_RP_MSG_SWITCHOVER_ACK (QEMU 8.1+): {@link SwitchoverAck}. */
    public static final int SWITCHOVER_ACK = 7;

    /** The source's receive buffer (QEMU: {@code uint8_t buf[512]}); longer messages are refused unread. */
    public static final int MAX_LENGTH = 512;
    private static final int REQ_PAGES_LENGTH = 12; // be64 start, be32 length
    private static final int VARIABLE = -1;

    private ReturnPathCodec() {
    }

    /** Writes one message; the caller flushes when it must reach the source now. */
    public static void write(StreamWriter w, ReturnPathMessage m) throws MigrationException {
        byte[] payload = payload(m);
        w.be16(type(m)).be16(payload.length).bytes(payload);
    }

    /** Reads one message, or throws {@link MigrationException} at the offset of its type field. */
    public static ReturnPathMessage read(StreamReader r) throws MigrationException {
        long at = r.offset();
        int type = r.be16();
        int len = r.be16();
        if (type == 0 || type > SWITCHOVER_ACK) {
            throw r.errorAt(at, "bad return-path message: unknown type: type=" + name(type) + " length=" + len);
        }
        int expected = fixedLength(type);
        if (expected != VARIABLE && len != expected) {
            throw r.errorAt(at, "bad return-path message: wrong length: type=" + name(type) + " length=" + len + " expected=" + expected);
        }
        if (len > MAX_LENGTH) {
            throw r.errorAt(at, "bad return-path message: too long: type=" + name(type) + " length=" + len + " max=" + MAX_LENGTH);
        }
        ByteBuffer b = ByteBuffer.wrap(r.bytes(len));
        return switch (type) {
            case SHUT -> new Shut(b.getInt());
            case PONG -> new Pong(b.getInt());
            case REQ_PAGES -> new ReqPages(b.getLong(), b.getInt());
            case REQ_PAGES_ID -> {
                if (len < REQ_PAGES_LENGTH + 1) {
                    throw r.errorAt(at, "bad return-path message: wrong length: type=REQ_PAGES_ID length=" + len + " min=13");
                }
                long start = b.getLong();
                int length = b.getInt();
                yield new ReqPagesId(start, length, name(r, at, type, len, b));
            }
            case RECV_BITMAP -> {
                if (len < 1) {
                    throw r.errorAt(at, "bad return-path message: missing block name: type=RECV_BITMAP length=0");
                }
                yield new RecvBitmap(name(r, at, type, len, b));
            }
            case RESUME_ACK -> {
                int value = b.getInt();
                if (value != ResumeAck.VALUE) {
                    throw r.errorAt(at, "bad return-path message: RESUME_ACK value must be 1: type=RESUME_ACK value=" + value);
                }
                yield new ResumeAck(value);
            }
            case SWITCHOVER_ACK -> new SwitchoverAck();
            default -> throw new IllegalStateException("type checked above: " + type);
        };
    }

    /** The type number of {@code m}. */
    public static int type(ReturnPathMessage m) {
        return switch (m) {
            case Shut x -> SHUT;
            case Pong x -> PONG;
            case ReqPagesId x -> REQ_PAGES_ID;
            case ReqPages x -> REQ_PAGES;
            case RecvBitmap x -> RECV_BITMAP;
            case ResumeAck x -> RESUME_ACK;
            case SwitchoverAck x -> SWITCHOVER_ACK;
        };
    }

    /** QEMU's name of a message type, for messages. */
    public static String name(int type) {
        return switch (type) {
            case 0 -> "INVALID";
            case SHUT -> "SHUT";
            case PONG -> "PONG";
            case REQ_PAGES_ID -> "REQ_PAGES_ID";
            case REQ_PAGES -> "REQ_PAGES";
            case RECV_BITMAP -> "RECV_BITMAP";
            case RESUME_ACK -> "RESUME_ACK";
            case SWITCHOVER_ACK -> "SWITCHOVER_ACK";
            default -> String.valueOf(type);
        };
    }

    private static int fixedLength(int type) {
        return switch (type) {
            case SHUT, PONG, RESUME_ACK -> 4;
            case REQ_PAGES -> REQ_PAGES_LENGTH;
            case SWITCHOVER_ACK -> 0;
            default -> VARIABLE;
        };
    }

    /** The str8 name that must fill the rest of the payload exactly. */
    private static String name(StreamReader r, long at, int type, int len, ByteBuffer b) throws MigrationException {
        int n = b.get() & 0xff;
        if (n != b.remaining()) {
            throw r.errorAt(at, "bad return-path message: length does not match block name: type=" + name(type)
                    + " length=" + len + " expected=" + (len - b.remaining() + n) + " name_length=" + n);
        }
        byte[] raw = new byte[n];
        b.get(raw);
        String s = new String(raw, StandardCharsets.ISO_8859_1);
        if (s.isEmpty()) {
            // no RAM block has an empty id: QEMU fails the lookup, we fail here with the offset
            throw r.errorAt(at, "bad return-path message: empty block name: type=" + name(type) + " length=" + len);
        }
        if (s.indexOf('\0') >= 0) {
            throw r.errorAt(at, "bad return-path message: NUL inside block name: type=" + name(type) + " length=" + len);
        }
        return s;
    }

    private static byte[] payload(ReturnPathMessage m) {
        return switch (m) {
            case Shut s -> ByteBuffer.allocate(4).putInt(s.status()).array();
            case Pong p -> ByteBuffer.allocate(4).putInt(p.value()).array();
            case ReqPagesId q -> {
                byte[] name = MigrationCommands.checkedName(q.block());
                yield ByteBuffer.allocate(REQ_PAGES_LENGTH + 1 + name.length)
                        .putLong(q.start()).putInt(q.length()).put((byte) name.length).put(name).array();
            }
            case ReqPages q -> ByteBuffer.allocate(REQ_PAGES_LENGTH).putLong(q.start()).putInt(q.length()).array();
            case RecvBitmap rb -> {
                byte[] name = MigrationCommands.checkedName(rb.block());
                yield ByteBuffer.allocate(1 + name.length).put((byte) name.length).put(name).array();
            }
            case ResumeAck a -> {
                if (a.value() != ResumeAck.VALUE) {
                    throw new IllegalArgumentException("RESUME_ACK carries 1, not " + a.value());
                }
                yield ByteBuffer.allocate(4).putInt(a.value()).array();
            }
            case SwitchoverAck x -> new byte[0];
        };
    }
}
