package dev.livemig.machine;

import java.io.IOException;
import java.util.List;

/**
 * Implemented by a registered device's state or live handler that owns descriptors its successor must continue with
 * — the sockets of a service the guest runs, say — so that cpr-transfer hands them to the new process with the RAM,
 * and the service's clients never see a new connection.
 */
public interface DescriptorOwner {
    /**
     * Called once at cpr-transfer's handshake, before the CPR state is written (the guest still runs): the
     * descriptors to hand over. From here the set must not grow — a service stops accepting connections (they wait in
     * the listening socket's backlog for the new process) until {@link #handOverAbandoned}.
     */
    List<HandedOver> handOver() throws IOException;

    /** The migration failed after {@link #handOver}: this process carries on with its descriptors (accept again). */
    default void handOverAbandoned() {
    }
}
