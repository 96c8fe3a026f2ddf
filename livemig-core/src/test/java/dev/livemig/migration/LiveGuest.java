package dev.livemig.migration;

import dev.livemig.machine.Machine;
import dev.livemig.machine.RamBlock;
import dev.livemig.testing.Await;
import dev.livemig.vmstate.VmStateDescription;

import java.lang.foreign.ValueLayout;
import java.util.concurrent.locks.LockSupport;

/**
 * A small running machine for migration tests: a mutator thread increments the first long of pages in turn
 * (reporting each write with markDirty) at a chosen rate, and a "cpu" device carries its position and write
 * count, so the destination can check that RAM and device agree exactly.
 */
final class LiveGuest implements AutoCloseable {
    static final class Cpu {
        long next;     // next page to write
        long writes;   // total writes done

        static final VmStateDescription<Cpu> DESCRIPTION = VmStateDescription.<Cpu>builder("cpu").version(1)
                .uint64("next", c -> c.next, (c, v) -> c.next = v)
                .uint64("writes", c -> c.writes, (c, v) -> c.writes = v)
                .build();
    }

    final Machine machine;
    final RamBlock ram;
    final Cpu cpu = new Cpu();
    private volatile long pagesPerSecond;
    private volatile boolean reportWrites = true;
    private volatile boolean run;
    private volatile boolean stop;
    private volatile boolean idle = true;
    /** cpu.writes as other threads may read it while the guest runs (cpu itself is read once the guest is paused). */
    private volatile long writesSoFar;
    private Thread thread;

    /** {@code pagesPerSecond} 0 = no mutation at all. */
    LiveGuest(long ramBytes, long pagesPerSecond) {
        this(ramBytes, pagesPerSecond, dev.livemig.machine.HostFeatures.ALL);
    }

    /**
     * A guest whose migrations may use only {@code features} of the kernel's, less any the test run switches off
     * ({@code -Dlivemig.disable}: the build runs these tests again with huge pages off).
     */
    LiveGuest(long ramBytes, long pagesPerSecond, dev.livemig.machine.HostFeatures features) {
        this(ramBytes, pagesPerSecond, features, dev.livemig.machine.MachineCompat.CURRENT);
    }

    /** As above, speaking the wire dialect {@code compat} (a QEMU machine type's choices). */
    LiveGuest(long ramBytes, long pagesPerSecond, dev.livemig.machine.HostFeatures features,
              dev.livemig.machine.MachineCompat compat) {
        this(ramBytes, pagesPerSecond, features, compat, null, false);
    }

    /**
     * A guest whose RAM is the shared file {@code sharedRam} (null: anonymous memory), which outlives it: a guest
     * made over a file that holds one's RAM already leaves it as it is (a restarted process maps it).
     */
    static LiveGuest overSharedFile(java.nio.file.Path sharedRam, long ramBytes, long pagesPerSecond) {
        return new LiveGuest(ramBytes, pagesPerSecond, dev.livemig.machine.HostFeatures.ALL,
                dev.livemig.machine.MachineCompat.CURRENT, a -> RamBlock.mappedFile(a, "ram", sharedRam, ramBytes),
                java.nio.file.Files.exists(sharedRam));
    }

    /** A guest whose RAM is a memfd (memory with a descriptor, which cpr-transfer hands to a new process). */
    static LiveGuest overMemfd(long ramBytes, long pagesPerSecond) {
        return new LiveGuest(ramBytes, pagesPerSecond, dev.livemig.machine.HostFeatures.ALL,
                dev.livemig.machine.MachineCompat.CURRENT, a -> RamBlock.memfd(a, "ram", ramBytes), false);
    }

    /** The new process of a cpr-transfer: its RAM is the memory the old one handed over, left as it is. */
    static LiveGuest overHandedOver(dev.livemig.cpr.CprIncoming incoming, long ramBytes) {
        return new LiveGuest(ramBytes, 0, dev.livemig.machine.HostFeatures.ALL,
                dev.livemig.machine.MachineCompat.CURRENT, a -> incoming.ramBlock(a, "ram", ramBytes), true);
    }

    /** Makes the guest's RAM block in the arena it lives in. */
    private interface RamOf {
        RamBlock in(java.lang.foreign.Arena arena) throws java.io.IOException;
    }

    private final java.lang.foreign.Arena fileArena; // the RAM's own mapping; null for anonymous RAM

    /** {@code ramOf} null: anonymous RAM; {@code existing}: the RAM holds a guest's content already. */
    private LiveGuest(long ramBytes, long pagesPerSecond, dev.livemig.machine.HostFeatures features,
                      dev.livemig.machine.MachineCompat compat, RamOf ramOf, boolean existing) {
        this.pagesPerSecond = pagesPerSecond;
        var off = new java.util.HashSet<>(features.disabled());
        off.addAll(dev.livemig.machine.HostFeatures.fromSystemProperties().disabled());
        this.fileArena = ramOf == null ? null : java.lang.foreign.Arena.ofShared();
        Machine.Builder builder = Machine.builder("livemig-test");
        if (ramOf == null) {
            builder.ram("ram", ramBytes);
        } else {
            try {
                builder.ram(ramOf.in(fileArena));
            } catch (java.io.IOException e) {
                fileArena.close();
                throw new java.io.UncheckedIOException(e);
            }
        }
        this.machine = builder.compat(compat).hostFeatures(new dev.livemig.machine.HostFeatures(off)).hooks(new Machine.RunStateHooks() {
            @Override
            public void pause() {
                run = false;
                while (!idle) {
                    Thread.onSpinWait();
                }
            }

            @Override
            public void resume() {
                run = true;
                LockSupport.unpark(thread);
            }
        }).build();
        this.ram = machine.ramBlock("ram").orElseThrow();
        machine.devices().register("cpu", 0, Cpu.DESCRIPTION, cpu);
        for (long p = 0; p < ram.targetPages() && !existing; p += 3) {
            ram.memory().set(ValueLayout.JAVA_LONG, p * 4096 + 8, p * 31 + 7); // some non-zero content
        }
    }

    /** false: the guest writes RAM without calling markDirty, like an application that knows nothing of livemig. */
    void reportWrites(boolean report) {
        reportWrites = report;
    }

    /** Changes how fast the guest writes (0 = stop writing, keep running). */
    void dirtyRate(long pages) {
        pagesPerSecond = pages;
    }

    void start() {
        thread = Thread.ofPlatform().name("test-guest-cpu").daemon().start(this::loop);
        machine.resume();
    }

    private void loop() {
        long pages = ram.targetPages();
        long t0 = System.nanoTime();
        long done = 0;
        var pacer = machine.cpuThrottle().pacer();
        while (!stop) {
            if (!run || pagesPerSecond == 0) {
                idle = true;
                LockSupport.parkNanos(1_000_000);
                continue;
            }
            idle = false;
            if (!run) { // re-check after announcing work, so pause() never misses a write in flight
                idle = true;
                continue;
            }
            long off = cpu.next * 4096;
            ram.memory().set(ValueLayout.JAVA_LONG, off, ram.memory().get(ValueLayout.JAVA_LONG, off) + 1);
            if (reportWrites) {
                ram.markDirty(off, 8);
            }
            cpu.next = (cpu.next + 1) % pages;
            cpu.writes++;
            writesSoFar = cpu.writes;
            idle = true;
            done++;
            try {
                t0 += pacer.pace(); // auto-converge's throttle: the time slept is lost to the guest
            } catch (InterruptedException e) {
                return;
            }
            long rate = pagesPerSecond;
            if (rate == 0) {
                continue;
            }
            long due = t0 + done * 1_000_000_000L / rate;
            long wait = due - System.nanoTime();
            if (wait > 0) {
                LockSupport.parkNanos(wait);
            }
        }
        idle = true;
    }

    /** How many pages the guest has written so far; safe to call while it runs. */
    long writes() {
        return writesSoFar;
    }

    /** Waits until the guest has written at least {@code count} pages in all. */
    void awaitWrites(long count) throws Exception {
        Await.until("the guest to have written " + count + " pages", () -> writesSoFar >= count,
                () -> writesSoFar + " written, machine " + machine.runState());
    }

    /** The sum of every page's counter equals the number of writes: no write lost or duplicated. */
    long counterSum() {
        long sum = 0;
        for (long p = 0; p < ram.targetPages(); p++) {
            sum += ram.memory().get(ValueLayout.JAVA_LONG, p * 4096);
        }
        return sum;
    }

    @Override
    public void close() {
        stop = true;
        machine.pause();
        if (thread != null) {
            try {
                thread.join(Await.DEADLINE); // it stops within one pacing step; the bound only guards a hang
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        machine.close();
        if (fileArena != null) {
            fileArena.close();
        }
    }
}
