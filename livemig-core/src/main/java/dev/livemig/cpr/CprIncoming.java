package dev.livemig.cpr;

import dev.livemig.linux.MemoryFile;
import dev.livemig.linux.UnixSocket;
import dev.livemig.machine.RamBlock;
import dev.livemig.wire.MigrationException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The new process's half of cpr-transfer's handshake (§16.2), in QEMU's order: listen on the cpr socket, take the
 * old process's connection and its CPR state, map the memory it hands over as this side's RAM blocks
 * ({@link #ramBlock}), start listening on the main channel, and only then close the cpr connection
 * ({@link #listening}): the old process waits for that before it connects the main channel.
 *
 * <p>Descriptors the state carries and no block takes are closed with this object.
 */
public final class CprIncoming implements AutoCloseable {
    private final Path path;
    private final UnixSocket connection;
    private final CprState state;

    private CprIncoming(Path path, UnixSocket connection, CprState state) {
        this.path = path;
        this.connection = connection;
        this.state = state;
    }

    /** Listens at {@code path}, where the old process will connect; the path is removed with the listener. */
    public static Listener listen(Path path) throws MigrationException {
        try {
            return new Listener(path, UnixSocket.listen(path));
        } catch (IOException e) {
            throw new MigrationException("cpr channel unix:" + path + ": " + MigrationException.reason(e), e);
        }
    }

    /** The cpr socket listening for the old process. */
    public static final class Listener implements AutoCloseable {
        private final Path path;
        private final UnixSocket.Server server;

        private Listener(Path path, UnixSocket.Server server) {
            this.path = path;
            this.server = server;
        }

        /** Waits up to {@code timeoutMillis} (-1: without limit) for the old process and reads its CPR state. */
        public CprIncoming accept(int timeoutMillis) throws MigrationException {
            UnixSocket connection;
            try {
                connection = server.accept(timeoutMillis);
            } catch (IOException e) {
                throw new MigrationException("cpr channel unix:" + path + ": " + MigrationException.reason(e), e);
            }
            if (connection == null) {
                throw new MigrationException("cpr channel unix:" + path + ": no process connected within " + timeoutMillis + " ms");
            }
            try {
                return new CprIncoming(path, connection, CprStateReader.receive(connection));
            } catch (MigrationException | RuntimeException e) {
                connection.close();
                throw e;
            }
        }

        /** Stops listening and removes the socket's path. */
        @Override
        public void close() {
            server.close();
            try {
                Files.deleteIfExists(path);
            } catch (IOException ignored) {
                // a stale socket path is harmless: the next listen on it fails with its own message
            }
        }
    }

    /** The state as it came (descriptors not yet taken are still in it). */
    public CprState state() {
        return state;
    }

    /**
     * RAM block {@code name} of {@code size} bytes over the memory the state hands over for it (name, id 0), mapped
     * in {@code arena}; the block owns the descriptor from here on. Refused when the state has none for the name, or
     * the descriptor is not memory of at least that size.
     */
    public RamBlock ramBlock(Arena arena, String name, long size) throws IOException {
        CprState.Fd fd = state.find(name, 0).orElseThrow(() -> new IOException("the CPR state from unix:" + path
                + " hands over no memory for RAM block " + name + " (it names " + state.fds().stream()
                .map(f -> f.name() + "/" + f.id()).toList() + ")"));
        return RamBlock.handedOver(arena, name, MemoryFile.adopt(fd.descriptor(), name, size), size);
    }

    /** The ids the state carries descriptors under {@code name} for, ascending (e.g. a service's connections). */
    public java.util.List<Integer> ids(String name) {
        return state.fds().stream().filter(f -> f.name().equals(name)).map(CprState.Fd::id).sorted().toList();
    }

    /** The listening socket handed over as {@code name}/{@code id}, a Java channel again; the channel owns it. */
    public java.nio.channels.ServerSocketChannel listeningSocket(String name, int id) throws IOException {
        return dev.livemig.linux.AdoptedSocket.listening(descriptor(name, id), name + "/" + id);
    }

    /** The connected socket handed over as {@code name}/{@code id}, a Java channel again; the channel owns it. */
    public java.nio.channels.SocketChannel connectedSocket(String name, int id) throws IOException {
        return dev.livemig.linux.AdoptedSocket.connected(descriptor(name, id), name + "/" + id);
    }

    private dev.livemig.linux.ReceivedDescriptor descriptor(String name, int id) throws IOException {
        return state.find(name, id).orElseThrow(() -> new IOException("the CPR state from unix:" + path
                + " hands over no descriptor " + name + "/" + id)).descriptor();
    }

    /**
     * Before the main channel listens: every descriptor must have found its owner (the machine's RAM blocks, the
     * application's sockets). One the state names and nobody took is a name this process does not know, and is
     * refused; the cpr connection is closed then, so the old process goes on to a main channel nobody listens on,
     * fails to connect, and runs on.
     */
    public void checkEveryDescriptorTaken() throws MigrationException {
        var unknown = state.untaken();
        if (!unknown.isEmpty()) {
            connection.close();
            throw new MigrationException("the CPR state from unix:" + path + " hands over " + unknown.size()
                    + " descriptor(s) this process has no use for: " + unknown.stream().map(f -> f.name() + "/" + f.id()).toList()
                    + " (a RAM block or socket it does not have)", "cpr state", unknown.getFirst().at(), null);
        }
    }

    /** The main channel listens now: closing the cpr connection tells the old process to connect it. */
    public void listening() {
        connection.close();
    }

    /** Closes the cpr connection (if still open) and every descriptor no block took. */
    @Override
    public void close() {
        connection.close();
        state.close();
    }
}
