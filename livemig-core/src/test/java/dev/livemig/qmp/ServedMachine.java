package dev.livemig.qmp;

import dev.livemig.machine.Machine;
import dev.livemig.machine.RunState;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;

/** A running machine and a QMP server for it on loopback tcp (and a unix socket when given); closes both. */
record ServedMachine(Machine machine, QmpServer server) implements AutoCloseable {
    static ServedMachine start(long ramBytes, Path unixSocket) throws IOException {
        Machine m = Machine.builder("t").ram("ram", ramBytes).initialState(RunState.RUNNING).build();
        try {
            return new ServedMachine(m, QmpServer.start(m, unixSocket, new InetSocketAddress("127.0.0.1", 0)));
        } catch (IOException | RuntimeException e) {
            m.close();
            throw e;
        }
    }

    InetSocketAddress tcp() {
        return server.tcpAddress();
    }

    @Override
    public void close() {
        server.close();
        machine.close();
    }
}
