package dev.livemig.cpr;

import dev.livemig.linux.UnixSocket;
import dev.livemig.machine.RamBlock;
import dev.livemig.wire.MigrationException;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * The old process's half of cpr-transfer's handshake (§16.2): before the main channel is opened, connect to the new
 * process's cpr socket, send the CPR state (every RAM block's memory under the block's name, id 0, as QEMU names
 * them), shut the write side, and wait for the new process to close the socket — its word that it has mapped the
 * memory and listens on the main channel. Until then the guest runs on, untouched: the handshake changes nothing
 * here, so any failure in it leaves the old process as it was.
 */
public final class CprHandover {
    private static final int POLL_MILLIS = 100;

    private CprHandover() {
    }

    /**
     * What the state hands over for {@code blocks}: each block's memory file. A block without one (anonymous
     * memory, a private mapping) cannot be handed over, and is refused with QEMU's text for its blocker.
     */
    public static List<CprStateWriter.Entry> entriesOf(List<RamBlock> blocks) throws MigrationException {
        List<CprStateWriter.Entry> entries = new ArrayList<>();
        for (RamBlock b : blocks) {
            var file = b.memoryFile().orElseThrow(() -> new MigrationException("Memory region " + b.name()
                    + " is not compatible with CPR. share=on is required for memory-backend objects, and aux-ram-share=on"
                    + " is required. (livemig: give the block memory a new process can map, RamBlock.memfd)"));
            entries.add(new CprStateWriter.Entry(b.name(), 0, file));
        }
        return entries;
    }

    /**
     * Hands {@code entries} over through the cpr socket at {@code path} and waits for the new process to close it.
     * Returns false when {@code cancelled} became true meanwhile.
     */
    public static boolean handOver(Path path, List<CprStateWriter.Entry> entries, BooleanSupplier cancelled)
            throws MigrationException {
        try (UnixSocket cpr = UnixSocket.connect(path)) {
            CprStateWriter.send(cpr, entries);
            while (!cpr.awaitPeerClose(POLL_MILLIS)) {
                if (cancelled.getAsBoolean()) {
                    return false;
                }
            }
            return true;
        } catch (IOException e) {
            throw new MigrationException("cpr channel unix:" + path + ": " + MigrationException.reason(e), e);
        }
    }
}
