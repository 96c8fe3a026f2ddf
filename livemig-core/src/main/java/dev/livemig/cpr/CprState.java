package dev.livemig.cpr;

import dev.livemig.linux.ReceivedDescriptor;

import java.util.List;

/**
 * The CPR state (format reference §16.2, QEMU 10.0's migration/cpr.c): the named descriptors a process hands to
 * its successor in cpr-transfer mode, so that guest memory (memfd, shm) is mapped again instead of copied. On the
 * wire: be32 magic {@code QCPR}, be32 version 1, then vmsd {@code CprState} — a list of {@code cpr fd} entries,
 * each u8 1, be32 name length (with its NUL), the name and its NUL, sbe32 id, and the fd field: one byte (a space)
 * that carries the descriptor by SCM_RIGHTS; u8 0 ends the list.
 */
public record CprState(List<Fd> fds) implements AutoCloseable {
    /** {@code QCPR}. */
    public static final int MAGIC = 0x51435052;
    public static final int VERSION = 1;
    /** The byte an fd field is on the wire; its descriptor travels with it. */
    public static final byte FD_MARKER = ' ';

    /**
     * One named descriptor; {@code id} tells several of one name apart (QEMU's RAM blocks use 0); {@code at} is the
     * offset of its fd field in the state, for messages.
     */
    public record Fd(String name, int id, ReceivedDescriptor descriptor, long at) {
    }

    /** The entries whose descriptor no owner has taken yet. */
    public java.util.List<Fd> untaken() {
        return fds.stream().filter(f -> f.descriptor().owned()).toList();
    }

    public CprState {
        fds = List.copyOf(fds);
    }

    /** The descriptor named {@code name} with {@code id}, if the state has it. */
    public java.util.Optional<Fd> find(String name, int id) {
        return fds.stream().filter(f -> f.name().equals(name) && f.id() == id).findFirst();
    }

    /** Closes every descriptor no owner took. */
    @Override
    public void close() {
        fds.forEach(f -> f.descriptor().close());
    }
}
