package dev.livemig.qmp;

import dev.livemig.linux.ReceivedDescriptor;

import java.util.Optional;

/**
 * What one QMP client passed with its messages (SCM_RIGHTS on a unix socket), for {@code getfd} to take: as in
 * QEMU, the last descriptor received, a later one replacing (and closing) one not taken. The session's own,
 * bound for the commands it dispatches ({@link #SESSION}); closed with the session.
 */
final class PassedDescriptors implements AutoCloseable {
    /** The dispatching session's, while its command runs. */
    static final ScopedValue<PassedDescriptors> SESSION = ScopedValue.newInstance();

    private ReceivedDescriptor last;

    synchronized void arrived(ReceivedDescriptor descriptor) {
        if (last != null) {
            last.close();
        }
        last = descriptor;
    }

    /** Takes the last descriptor received, if one is waiting. */
    synchronized Optional<ReceivedDescriptor> take() {
        ReceivedDescriptor d = last;
        last = null;
        return Optional.ofNullable(d);
    }

    @Override
    public synchronized void close() {
        if (last != null) {
            last.close();
            last = null;
        }
    }
}
