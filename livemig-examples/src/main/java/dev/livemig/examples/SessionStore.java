package dev.livemig.examples;

import dev.livemig.machine.Machine;
import dev.livemig.machine.RamBlock;
import dev.livemig.migration.Migration;
import dev.livemig.migration.MigrationController;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.transport.HandshakeGate;
import dev.livemig.transport.MigrationUri;
import dev.livemig.vmstate.VmStateDescription;

import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;

/**
 * A service whose state moves live to another process: a table of sessions off the heap (a RAM block, written
 * while it migrates) and two devices, its statistics and its cursor. {@code send URI} migrates a running store
 * to a {@code receive URI} process; both print the state's fingerprint, which must agree. README.md shows this
 * class from here on (ReadmeSnippetTest keeps them equal).
 */
public final class SessionStore {
    static final int SLOTS = 1 << 16;                // 64 Ki sessions of 64 bytes: a 4 MiB table
    long requests;                                   // device "stats"
    long lastSession;
    long cursor;                                     // device "cursor"
    private boolean paused;                          // by the migration's switchover
    private final Machine machine;
    private final RamBlock table;

    static final VmStateDescription<SessionStore> STATS = VmStateDescription.<SessionStore>builder("stats").version(1)
            .uint64("requests", s -> s.requests, (s, v) -> s.requests = v)
            .uint64("last_session", s -> s.lastSession, (s, v) -> s.lastSession = v).build();
    static final VmStateDescription<SessionStore> CURSOR = VmStateDescription.<SessionStore>builder("cursor").version(1)
            .uint32("slot", s -> s.cursor, (s, v) -> s.cursor = v).build();

    SessionStore() {
        machine = Machine.builder("session-store").ram("sessions", SLOTS * 64L).hooks(new Machine.RunStateHooks() {
            @Override public void pause() { setPaused(true); }   // returns once no write is under way
            @Override public void resume() { setPaused(false); }
        }).build();
        table = machine.ramBlock("sessions").orElseThrow();
        machine.devices().register("stats", 0, STATS, this);
        machine.devices().register("cursor", 0, CURSOR, this);
    }

    private synchronized void setPaused(boolean p) { paused = p; }

    /** One request: a session written into the next slot (and marked dirty for the migration). */
    synchronized boolean serve() {
        if (paused) { return false; }
        long offset = cursor * 64;
        table.memory().set(ValueLayout.JAVA_LONG, offset, ++lastSession);
        table.memory().set(ValueLayout.JAVA_LONG, offset + 8, lastSession * 31 + requests);
        table.markDirty(offset, 16);
        requests++;
        cursor = (cursor + 1) % SLOTS;
        return true;
    }

    /** What both ends print: the devices and a checksum of the table. */
    synchronized String fingerprint() {
        long sum = 0;
        for (long off = 0; off < SLOTS * 64L; off += 8) { sum = sum * 31 + table.memory().get(ValueLayout.JAVA_LONG, off); }
        return "requests=" + requests + " last=" + lastSession + " cursor=" + cursor + " table=" + Long.toHexString(sum);
    }

    public static void main(String[] args) throws Exception {
        var store = new SessionStore();
        var uri = MigrationUri.parse(args[1]);
        if (args[0].equals("receive")) {
            try (var controller = MigrationController.builder(store.machine).destination(uri, false, HandshakeGate.DEFAULT).build()) {
                controller.startIncoming();
                var incoming = controller.incomingStarted().toCompletableFuture().join();
                System.out.println("listening " + incoming.address());
                var status = incoming.awaitFinished(5, TimeUnit.MINUTES);
                System.out.println(status == MigrationStatus.COMPLETED ? "received " + store.fingerprint() : "failed " + incoming.error());
            }
            return;
        }
        store.machine.resume();
        var done = new java.util.concurrent.atomic.AtomicBoolean();
        Thread worker = Thread.ofPlatform().start(() -> { while (!done.get()) { store.serve(); } });
        Thread.sleep(200); // serving before the migration starts, and all through it
        try (var controller = MigrationController.builder(store.machine).build()) {
            Migration m = controller.migrate(uri);
            var info = m.completion().toCompletableFuture().get(5, TimeUnit.MINUTES);
            done.set(true); // completed: the store stays paused as it was at switchover; else it served on
            worker.join();
            System.out.println(info.status() == MigrationStatus.COMPLETED ? "sent " + store.fingerprint() : "failed " + info.errorDesc());
        }
    }
}
