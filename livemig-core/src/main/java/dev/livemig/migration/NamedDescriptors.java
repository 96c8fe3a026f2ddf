package dev.livemig.migration;

import dev.livemig.linux.ReceivedDescriptor;

import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Descriptors a QMP client passed and named with {@code getfd} (QEMU's monitor fd list): {@code migrate fd:NAME}
 * takes one as its main channel; {@code closefd} closes one. One list per machine's controller; thread-safe.
 */
public final class NamedDescriptors implements AutoCloseable {
    private final Map<String, ReceivedDescriptor> byName = new HashMap<>();

    /** Files {@code descriptor} under {@code name}; one filed under that name before is closed (QEMU's rule). */
    public synchronized void put(String name, ReceivedDescriptor descriptor) {
        ReceivedDescriptor old = byName.put(name, descriptor);
        if (old != null) {
            old.close();
        }
    }

    /** Takes the descriptor named {@code name} out of the list (the taker owns it). */
    public synchronized Optional<ReceivedDescriptor> take(String name) {
        return Optional.ofNullable(byName.remove(name));
    }

    /** Closes the descriptor named {@code name}; false when there is none. */
    public synchronized boolean close(String name) {
        ReceivedDescriptor d = byName.remove(name);
        if (d != null) {
            d.close();
        }
        return d != null;
    }

    /** Closes every descriptor still filed. */
    @Override
    public synchronized void close() {
        byName.values().forEach(ReceivedDescriptor::close);
        byName.clear();
    }
}
