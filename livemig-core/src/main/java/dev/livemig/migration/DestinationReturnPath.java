package dev.livemig.migration;

import dev.livemig.transport.MigrationChannel;
import dev.livemig.wire.format.MigrationCommand;
import dev.livemig.wire.format.MigrationCommands;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.format.ReturnPathCodec;
import dev.livemig.wire.format.ReturnPathMessage;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.format.StreamRecord;
import dev.livemig.wire.StreamWriter;

/**
 * The destination's end of the return path in precopy, as QEMU's loader serves it: OPEN_RETURN_PATH starts
 * the writer on the main channel, PING is answered with PONG, SWITCHOVER_ACK goes out once the path is open
 * and every approval arrived (capability switchover-ack), and SHUT tells the source the outcome, which a
 * source with a return path waits for before it completes. Thread-safe: approvals may come from handler
 * threads while the load thread answers commands.
 */
final class DestinationReturnPath {
    private final MigrationChannel channel;
    private final boolean switchoverAck;
    private int approvalsPending; // guarded by this
    private StreamWriter out;     // guarded by this; null until OPEN_RETURN_PATH
    private boolean ackSent;      // guarded by this

    /** {@code switchoverAck}: the destination's capability switchover-ack, which the source's must match. */
    DestinationReturnPath(MigrationChannel channel, boolean switchoverAck) {
        this.channel = channel;
        this.switchoverAck = switchoverAck;
    }

    /** The handlers that must approve switchover before SWITCHOVER_ACK may go out; call before the load. */
    synchronized void expectApprovals(int count) {
        approvalsPending = count;
    }

    /** One handler approved; the last one lets SWITCHOVER_ACK go out if the path is open. */
    void approve() throws MigrationException {
        synchronized (this) {
            approvalsPending--;
        }
        maybeSendAck();
    }

    /** Answers one command of the main stream; errors are reported at the record in {@code in}. */
    void onCommand(StreamRecord.Command raw, StreamReader in) throws MigrationException {
        switch (MigrationCommands.decode(raw, in, true)) { // both dialects: 10.0's SWITCHOVER_START too
            case MigrationCommand.OpenReturnPath open -> {
                if (!channel.isBidirectional()) {
                    throw in.error("OPEN_RETURN_PATH on a transport without a return path: " + channel.describe());
                }
                synchronized (this) {
                    if (out == null) {
                        out = new StreamWriter(channel, 4096);
                    }
                }
                maybeSendAck();
            }
            case MigrationCommand.Ping ping -> {
                synchronized (this) {
                    if (out == null) {
                        throw in.error("PING without a return path: value=" + ping.value());
                    }
                }
                send(new ReturnPathMessage.Pong(ping.value()));
            }
            case MigrationCommand.SwitchoverStart start -> {
                // QEMU 10.0 sends it as switchover begins, for handlers with a switchover_start hook (VFIO's
                // multifd device state); no livemig handler has one
            }
            case MigrationCommand.PostcopyAdvise advise -> throw in.error("POSTCOPY_ADVISE, but postcopy-ram is off here"
                    + " (turn it on at the destination too, or off at the source)");
            case MigrationCommand other -> throw in.error("command not supported in precopy by livemig yet: " + other);
        }
    }

    /** Answers a PING found inside a postcopy package, as {@link #onCommand} answers one on the stream. */
    void pong(int value, StreamReader in) throws MigrationException {
        synchronized (this) {
            if (out == null) {
                throw in.error("PING without a return path: value=" + value);
            }
        }
        send(new ReturnPathMessage.Pong(value));
    }

    /** True once the source opened the return path. */
    synchronized boolean isOpen() {
        return out != null;
    }

    /** SHUT(0): the load succeeded; nothing is sent when the source opened no return path. */
    void succeeded() throws MigrationException {
        send(new ReturnPathMessage.Shut(0));
    }

    /** SHUT(1), best effort: the source learns of the failure from the closed connection otherwise. */
    void failed() {
        try {
            send(new ReturnPathMessage.Shut(1));
        } catch (MigrationException | RuntimeException ignored) {
            // the connection is already broken
        }
    }

    private synchronized void maybeSendAck() throws MigrationException {
        if (switchoverAck && out != null && approvalsPending <= 0 && !ackSent) {
            ackSent = true;
            send(new ReturnPathMessage.SwitchoverAck());
        }
    }

    private synchronized void send(ReturnPathMessage message) throws MigrationException {
        if (out != null) {
            ReturnPathCodec.write(out, message);
            out.flush();
        }
    }
}
