package dev.livemig.cpr;

import dev.livemig.linux.UnixSocket;
import dev.livemig.machine.DescriptorOwner;
import dev.livemig.machine.HandedOver;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RamBlock;
import dev.livemig.machine.Registration;
import dev.livemig.wire.MigrationException;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * The old process's half of cpr-transfer's handshake (§16.2): before the main channel is opened, connect to the new
 * process's cpr socket, send the CPR state (every RAM block's memory under the block's name, id 0, as QEMU names
 * them, and the descriptors the application's devices own, {@link DescriptorOwner}), shut the write side, and wait for the new process to close the socket — its word that it has mapped the
 * memory and listens on the main channel. Until then the guest runs on, untouched: the handshake changes nothing
 * here, so any failure in it leaves the old process as it was.
 */
public final class CprHandover {
    private static final int POLL_MILLIS = 100;

    private CprHandover() {
    }

    /**
     * What the state hands over for {@code blocks}: each block's memory file under the block's name. A block without
     * one (anonymous memory, a private mapping) cannot be handed over, and is refused with QEMU's text for its blocker.
     */
    public static List<HandedOver> memoryOf(List<RamBlock> blocks) throws MigrationException {
        List<HandedOver> entries = new ArrayList<>();
        for (RamBlock b : blocks) {
            var file = b.memoryFile().orElseThrow(() -> new MigrationException("Memory region " + b.name()
                    + " is not compatible with CPR. share=on is required for memory-backend objects, and aux-ram-share=on"
                    + " is required. (livemig: give the block memory a new process can map, RamBlock.memfd)"));
            entries.add(new HandedOver(b.name(), 0, file));
        }
        return entries;
    }

    /** The registered devices and live handlers of {@code machine} that own descriptors to hand over. */
    public static List<DescriptorOwner> ownersIn(Machine machine) {
        List<DescriptorOwner> owners = new ArrayList<>();
        for (Registration r : machine.devices().snapshot()) {
            Object owner = switch (r) {
                case Registration.Live live -> live.handler();
                case Registration.Device<?> device -> device.state();
                case Registration.Opaque opaque -> null; // another machine's section carried through, no object here
            };
            if (owner instanceof DescriptorOwner o) {
                owners.add(o);
            }
        }
        return owners;
    }

    /** What {@code owners} hand over, asked now (each stops adding descriptors until told the handover failed). */
    public static List<HandedOver> ownedBy(List<DescriptorOwner> owners) throws MigrationException {
        List<HandedOver> entries = new ArrayList<>();
        for (DescriptorOwner o : owners) {
            try {
                for (HandedOver h : o.handOver()) {
                    if (h.descriptor() instanceof dev.livemig.linux.SocketDescriptor && !dev.livemig.linux.SocketChannelDescriptor.available()) {
                        throw new MigrationException("cpr-transfer: " + h.name() + " is a socket, and this JVM does not let"
                                + " livemig reach a socket's descriptor: start it with " + dev.livemig.linux.SocketChannelDescriptor.OPTION);
                    }
                    entries.add(h);
                }
            } catch (IOException | RuntimeException e) {
                throw new MigrationException("cpr-transfer: " + o + " could not hand its descriptors over: "
                        + MigrationException.reason(e), e);
            }
        }
        return entries;
    }

    /**
     * Hands {@code entries} over through the cpr socket at {@code path} and waits for the new process to close it.
     * Returns false when {@code cancelled} became true meanwhile.
     */
    public static boolean handOver(Path path, List<HandedOver> entries, BooleanSupplier cancelled)
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
