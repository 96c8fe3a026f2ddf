package dev.livemig.wire.format;

import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;

import dev.livemig.wire.format.MigrationCommand.*;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The payload layouts of {@link MigrationCommand} (format reference §11.2), both ways, with QEMU 7.2's
 * loader rules: command 0 and numbers 7.2 does not know are rejected, a fixed-length command with another
 * {@code len} is rejected (QEMU's -ERANGE), POSTCOPY_ADVISE is 0 or 16 bytes, POSTCOPY_RAM_DISCARD and
 * RECV_BITMAP pass the layout checks of {@code loadvm_postcopy_ram_handle_discard} and
 * {@code loadvm_handle_recv_bitmap}.
 *
 * <p>{@link #write} throws {@link IllegalArgumentException} for a command no loader would accept (a caller
 * bug); {@link #decode} throws {@link MigrationException} for one the peer sent (hostile input). Block names
 * with a NUL byte are refused both ways (QEMU handles them as C strings and would act on a shorter name), and
 * so are empty ones (QEMU fails to find such a block a step later). Like 7.2, decoding accepts a DISCARD
 * whose long name alone fills the minimum length, with no range; writing needs 1..12 ranges.
 */
public final class MigrationCommands {
    /** QEMU's MIG_CMD_OPEN_RETURN_PATH: {@link OpenReturnPath}. */
    public static final int OPEN_RETURN_PATH = 1;
    /** MIG_CMD_PING: {@link Ping}. */
    public static final int PING = 2;
    /** MIG_CMD_POSTCOPY_ADVISE: {@link PostcopyAdvise}. */
    public static final int POSTCOPY_ADVISE = 3;
    /** MIG_CMD_POSTCOPY_LISTEN: {@link PostcopyListen}. */
    public static final int POSTCOPY_LISTEN = 4;
    /** MIG_CMD_POSTCOPY_RUN: {@link PostcopyRun}. */
    public static final int POSTCOPY_RUN = 5;
    /** MIG_CMD_POSTCOPY_RAM_DISCARD: {@link PostcopyRamDiscard}. */
    public static final int POSTCOPY_RAM_DISCARD = 6;
    /** MIG_CMD_PACKAGED: {@link Packaged}. */
    public static final int PACKAGED = 7;
    /** MIG_CMD_ENABLE_COLO: {@link EnableColo}. */
    public static final int ENABLE_COLO = 8;
    /** MIG_CMD_POSTCOPY_RESUME: {@link PostcopyResume}. */
    public static final int POSTCOPY_RESUME = 9;
    /** MIG_CMD_RECV_BITMAP: {@link RecvBitmap}. */
    public static final int RECV_BITMAP = 10;
    /** MIG_CMD_SWITCHOVER_START (QEMU 10.0; 7.2 refuses it): {@link SwitchoverStart}. */
    public static final int SWITCHOVER_START = 11;

    /** Discard layout version byte; QEMU has only ever sent 0. */
    public static final int DISCARD_VERSION = 0;
    /** Ranges per DISCARD command as QEMU batches them (MAX_DISCARDS_PER_COMMAND). */
    public static final int MAX_DISCARD_RANGES = 12;
    /** version, name length, at least one name byte, NUL, one range: the loader's lower bound. */
    public static final int MIN_DISCARD_LENGTH = 1 + 1 + 1 + 1 + 16;
    private static final int DISCARD_OVERHEAD = 3; // version, name length, NUL
    private static final int RANGE_BYTES = 16;
    private static final int ADVISE_RAM_LENGTH = 16;
    private static final long MAX_PACKAGED = 0xffff_ffffL;

    private MigrationCommands() {
    }

    /** Writes {@code c} as one QEMU_VM_COMMAND record; does not flush. */
    public static void write(StreamWriter w, MigrationCommand c) throws MigrationException {
        StreamFraming.writeCommand(w, number(c), payload(c));
    }

    /** The command number of {@code c}. */
    public static int number(MigrationCommand c) {
        return switch (c) {
            case OpenReturnPath x -> OPEN_RETURN_PATH;
            case Ping x -> PING;
            case PostcopyAdvise x -> POSTCOPY_ADVISE;
            case PostcopyListen x -> POSTCOPY_LISTEN;
            case PostcopyRun x -> POSTCOPY_RUN;
            case PostcopyRamDiscard x -> POSTCOPY_RAM_DISCARD;
            case Packaged x -> PACKAGED;
            case EnableColo x -> ENABLE_COLO;
            case PostcopyResume x -> POSTCOPY_RESUME;
            case RecvBitmap x -> RECV_BITMAP;
            case SwitchoverStart x -> SWITCHOVER_START;
        };
    }

    /** QEMU's name of a command number, for messages. */
    public static String name(int command) {
        return switch (command) {
            case 0 -> "INVALID";
            case OPEN_RETURN_PATH -> "OPEN_RETURN_PATH";
            case PING -> "PING";
            case POSTCOPY_ADVISE -> "POSTCOPY_ADVISE";
            case POSTCOPY_LISTEN -> "POSTCOPY_LISTEN";
            case POSTCOPY_RUN -> "POSTCOPY_RUN";
            case POSTCOPY_RAM_DISCARD -> "POSTCOPY_RAM_DISCARD";
            case PACKAGED -> "PACKAGED";
            case ENABLE_COLO -> "ENABLE_COLO";
            case POSTCOPY_RESUME -> "POSTCOPY_RESUME";
            case RECV_BITMAP -> "RECV_BITMAP";
            case SWITCHOVER_START -> "SWITCHOVER_START";
            default -> String.valueOf(command);
        };
    }

    /** Decodes with QEMU 7.2's rules, which do not know SWITCHOVER_START. */
    public static MigrationCommand decode(StreamRecord.Command c, StreamReader forErrors) throws MigrationException {
        return decode(c, forErrors, false);
    }

    /**
     * Decodes a command record. {@code forErrors} is the reader that has just returned {@code c}: errors are
     * reported at the record's first byte. {@code acceptSwitchoverStart} admits command 11, which only
     * 10.0+ sources send (with send-switchover-start on) and 7.2 rejects as unknown.
     */
    public static MigrationCommand decode(StreamRecord.Command c, StreamReader forErrors, boolean acceptSwitchoverStart)
            throws MigrationException {
        int cmd = c.command();
        byte[] data = c.data();
        var at = new Fault(forErrors, Math.max(0, forErrors.offset() - 5 - data.length), cmd, data.length);
        ByteBuffer b = ByteBuffer.wrap(data);
        return switch (cmd) {
            case OPEN_RETURN_PATH -> at.fixed(0, new OpenReturnPath());
            case PING -> {
                at.expectLength(4);
                yield new Ping(b.getInt());
            }
            case POSTCOPY_ADVISE -> advise(at, b);
            case POSTCOPY_LISTEN -> at.fixed(0, new PostcopyListen());
            case POSTCOPY_RUN -> at.fixed(0, new PostcopyRun());
            case POSTCOPY_RAM_DISCARD -> discard(at, b);
            case PACKAGED -> {
                at.expectLength(4);
                yield new Packaged(Integer.toUnsignedLong(b.getInt()));
            }
            case ENABLE_COLO -> at.fixed(0, new EnableColo());
            case POSTCOPY_RESUME -> at.fixed(0, new PostcopyResume());
            case RECV_BITMAP -> recvBitmap(at, b);
            case SWITCHOVER_START -> {
                if (!acceptSwitchoverStart) {
                    throw at.fail("unknown command (SWITCHOVER_START is QEMU 10.0+; 7.2 knows 1-10)");
                }
                yield at.fixed(0, new SwitchoverStart());
            }
            case 0 -> throw at.fail("invalid command number");
            default -> throw at.fail("unknown command");
        };
    }

    private static MigrationCommand advise(Fault at, ByteBuffer b) throws MigrationException {
        if (b.remaining() == 0) {
            return PostcopyAdvise.withoutRam();
        }
        if (b.remaining() != ADVISE_RAM_LENGTH) {
            throw at.fail("invalid length", "expected=0|16");
        }
        long summary = b.getLong();
        long tps = b.getLong();
        if (summary == 0 || tps == 0) {
            // QEMU compares both with its own (never zero) sizes; rejecting here keeps the two forms distinct
            throw at.fail("zero page size", String.format("page_size_summary=0x%x target_page_size=0x%x", summary, tps));
        }
        return new PostcopyAdvise(summary, tps);
    }

    private static MigrationCommand discard(Fault at, ByteBuffer b) throws MigrationException {
        if (b.remaining() < MIN_DISCARD_LENGTH) {
            throw at.fail("invalid length", "min=" + MIN_DISCARD_LENGTH);
        }
        int version = b.get() & 0xff;
        if (version != DISCARD_VERSION) {
            throw at.fail("invalid version", "version=" + version + " expected=" + DISCARD_VERSION);
        }
        String block = name(at, b);
        if (!b.hasRemaining()) {
            throw at.fail("missing NUL after block name", "block=" + block);
        }
        int nil = b.get() & 0xff;
        if (nil != 0) {
            throw at.fail("missing NUL after block name", String.format("block=%s found=0x%02x", block, nil));
        }
        int rest = b.remaining();
        if (rest % RANGE_BYTES != 0) {
            // 7.2 accepts 0 ranges when a long name alone reaches MIN_DISCARD_LENGTH; so do we
            throw at.fail("ranges not a multiple of 16 bytes", "block=" + block + " ranges_length=" + rest);
        }
        var ranges = new ArrayList<Range>(rest / RANGE_BYTES);
        while (b.hasRemaining()) {
            ranges.add(new Range(b.getLong(), b.getLong()));
        }
        return new PostcopyRamDiscard(block, ranges);
    }

    private static MigrationCommand recvBitmap(Fault at, ByteBuffer b) throws MigrationException {
        if (!b.hasRemaining()) {
            throw at.fail("missing block name");
        }
        String block = name(at, b);
        if (b.hasRemaining()) {
            throw at.fail("invalid length", "expected=" + (block.length() + 1) + " block=" + block);
        }
        return new RecvBitmap(block);
    }

    /** A str8 block name inside a payload whose length was already checked to hold its length byte. */
    private static String name(Fault at, ByteBuffer b) throws MigrationException {
        int n = b.get() & 0xff;
        if (n > b.remaining()) {
            throw at.fail("block name runs past the payload", "name_length=" + n);
        }
        byte[] raw = new byte[n];
        b.get(raw);
        String s = new String(raw, StandardCharsets.ISO_8859_1);
        if (s.isEmpty()) {
            // no RAM block has an empty id: QEMU fails the lookup, we fail here with the offset
            throw at.fail("empty block name");
        }
        if (s.indexOf('\0') >= 0) {
            throw at.fail("NUL inside block name", "name_length=" + n);
        }
        return s;
    }

    private static byte[] payload(MigrationCommand c) {
        return switch (c) {
            case Ping p -> ByteBuffer.allocate(4).putInt(p.value()).array();
            case PostcopyAdvise a -> {
                if (!a.carriesRamSizes()) {
                    yield new byte[0];
                }
                if (a.pageSizeSummary() == 0 || a.targetPageSize() == 0) {
                    throw new IllegalArgumentException("POSTCOPY_ADVISE needs both page sizes or neither: " + a);
                }
                yield ByteBuffer.allocate(ADVISE_RAM_LENGTH).putLong(a.pageSizeSummary()).putLong(a.targetPageSize()).array();
            }
            case PostcopyRamDiscard d -> {
                int n = d.ranges().size();
                if (n < 1 || n > MAX_DISCARD_RANGES) {
                    throw new IllegalArgumentException("POSTCOPY_RAM_DISCARD takes 1.." + MAX_DISCARD_RANGES + " ranges: ranges=" + n);
                }
                byte[] name = checkedName(d.block());
                ByteBuffer b = ByteBuffer.allocate(DISCARD_OVERHEAD + name.length + n * RANGE_BYTES);
                b.put((byte) DISCARD_VERSION).put((byte) name.length).put(name).put((byte) 0);
                for (Range r : d.ranges()) {
                    b.putLong(r.start()).putLong(r.length());
                }
                yield b.array();
            }
            case Packaged p -> {
                if (p.length() < 0 || p.length() > MAX_PACKAGED) {
                    throw new IllegalArgumentException("PACKAGED length out of range: length=" + p.length() + " max=" + MAX_PACKAGED);
                }
                yield ByteBuffer.allocate(4).putInt((int) p.length()).array();
            }
            case RecvBitmap r -> {
                byte[] name = checkedName(r.block());
                yield ByteBuffer.allocate(1 + name.length).put((byte) name.length).put(name).array();
            }
            case OpenReturnPath x -> new byte[0];
            case PostcopyListen x -> new byte[0];
            case PostcopyRun x -> new byte[0];
            case EnableColo x -> new byte[0];
            case PostcopyResume x -> new byte[0];
            case SwitchoverStart x -> new byte[0];
        };
    }

    /** A RAM block id as QEMU can carry it: 1..255 Latin-1 characters, no NUL. */
    static byte[] checkedName(String block) {
        if (block.isEmpty() || block.length() > 255 || block.indexOf('\0') >= 0
                || block.chars().anyMatch(ch -> ch > 0xff)) {
            throw new IllegalArgumentException("not a RAM block id QEMU can carry (1..255 Latin-1 chars, no NUL): \"" + block + "\"");
        }
        return block.getBytes(StandardCharsets.ISO_8859_1);
    }

    /** Where a bad command started and what it was, so every error names command and length. */
    private record Fault(StreamReader reader, long at, int command, int length) {
        MigrationCommand fixed(int expected, MigrationCommand c) throws MigrationException {
            expectLength(expected);
            return c;
        }

        void expectLength(int expected) throws MigrationException {
            if (length != expected) {
                throw fail("wrong length", "expected=" + expected);
            }
        }

        MigrationException fail(String what) {
            return fail(what, "");
        }

        MigrationException fail(String what, String facts) {
            return reader.errorAt(at, "bad command: " + what + ": command=" + name(command) + " length=" + length
                    + (facts.isEmpty() ? "" : " " + facts));
        }
    }
}
