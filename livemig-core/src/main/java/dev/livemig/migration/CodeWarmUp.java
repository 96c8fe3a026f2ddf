package dev.livemig.migration;

import dev.livemig.machine.Machine;
import dev.livemig.machine.RamBlock;
import dev.livemig.transport.MigrationUri;
import dev.livemig.wire.MigrationException;

import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Runs the migration code once before it is needed, on a side thread: two small scratch machines migrate to each
 * other over loopback TCP, single channel and multifd, a few times, so that the JVM has compiled the page loops
 * of both ends (sender, receiver, stream codecs) before the first real migration. A fresh JVM runs them
 * interpreted at first: a 256 MiB migration between two cold processes took ~450 ms here, between warm ones
 * ~150 ms. It changes how soon the code is fast, never what it does.
 *
 * <p>A destination starts it as it begins to listen (the wait for the source pays for it, as for the prefault);
 * a process that will be a source starts it early ({@link #startOnce()}: the command line does at start-up). It
 * stops between rounds as soon as a real migration begins, so that it does not compete with one for long.
 * Scratch RAM: 2 × 32 MiB while it runs. Process-wide by nature (what the JIT compiled serves the whole JVM).
 */
public final class CodeWarmUp {
    private static final long SCRATCH_BYTES = 32L << 20;
    private static final int ROUNDS = 3;
    private static final AtomicBoolean STARTED = new AtomicBoolean();
    private static volatile Thread warmer;
    private static volatile boolean realMigrationBegan;

    private CodeWarmUp() {
    }

    /** Switches it off: {@code -Dlivemig.warmup=off} (to measure without it, or to spare its CPU). */
    public static final String PROPERTY = "livemig.warmup";

    /** Starts the warm-up on a daemon thread, once per process; later calls do nothing. */
    public static void startOnce() {
        if (STARTED.compareAndSet(false, true) && !"off".equals(System.getProperty(PROPERTY))) {
            warmer = Thread.ofPlatform().name("livemig-warmup-code").daemon().start(CodeWarmUp::run);
        }
    }

    /** Whether the calling thread is the warm-up's (whose migrations are scratch ones). */
    static boolean onWarmUpThread() {
        return Thread.currentThread() == warmer;
    }

    /** Called as a real migration starts (either end): no further warm-up round begins. */
    static void migrationBegins() {
        realMigrationBegan = true;
    }

    /** Whether a real migration has begun in this process (then no warm-up round starts). */
    static boolean realMigrationBegan() {
        return realMigrationBegan;
    }

    private static void run() {
        try {
            runRounds(ROUNDS, CodeWarmUp::realMigrationBegan);
        } catch (MigrationException | RuntimeException | InterruptedException e) {
            // nothing is lost: the real migration runs the same code, only cold
        }
    }

    /**
     * {@code rounds} rounds of two scratch migrations (single channel, then multifd), until {@code stop} says so;
     * returns how many completed.
     */
    static int runRounds(int rounds, java.util.function.BooleanSupplier stop) throws MigrationException, InterruptedException {
        MigrationConfig plain = new MigrationConfig(Set.of(), MigrationConfig.DEFAULT_DOWNTIME_LIMIT_MS, 0);
        MigrationConfig multifd = plain.withCapability(MigrationCapability.MULTIFD);
        int completed = 0;
        for (int round = 0; round < rounds; round++) {
            for (MigrationConfig config : List.of(plain, multifd)) {
                if (stop.getAsBoolean()) {
                    return completed;
                }
                if (exercise(config, round)) {
                    completed++;
                }
            }
        }
        return completed;
    }

    private static boolean exercise(MigrationConfig config, int seed) throws MigrationException, InterruptedException {
        try (Machine source = scratch(seed); Machine destination = scratch(seed)) {
            var incoming = new IncomingMigration(destination, config, false, e -> { });
            MigrationUri at = incoming.listen(MigrationUri.parse("tcp:127.0.0.1:0"));
            var migration = new Migration(source, config, e -> { });
            try {
                migration.start(at);
            } catch (MigrationException e) {
                incoming.cancel();
                throw e;
            }
            boolean sent = migration.awaitFinished(30, TimeUnit.SECONDS) == MigrationStatus.COMPLETED;
            return incoming.awaitFinished(30, TimeUnit.SECONDS) == MigrationStatus.COMPLETED && sent;
        }
    }

    /**
     * A device of the common field kinds (each integer width, a flag, arrays, a subsection): the device state that
     * every switchover saves and loads goes through the same code, and the guest's stop no longer waits for it to
     * be loaded and linked (a cold cpr-transfer spent most of its few milliseconds of downtime there).
     */
    private static final class ScratchDevice {
        long a;
        long b;
        long c;
        long d;
        boolean e;
        final long[] wide = new long[4];
        final long[] narrow = new long[8];

        static final dev.livemig.vmstate.VmStateDescription<ScratchDevice> MORE =
                dev.livemig.vmstate.VmStateDescription.<ScratchDevice>builder("livemig-warmup/more").version(1)
                        .array(dev.livemig.vmstate.VmStateType.UINT64, "wide", 4, s -> s.wide)
                        .build();
        static final dev.livemig.vmstate.VmStateDescription<ScratchDevice> DESCRIPTION =
                dev.livemig.vmstate.VmStateDescription.<ScratchDevice>builder("livemig-warmup").version(1)
                        .uint8("a", s -> s.a, (s, v) -> s.a = v)
                        .int16("b", s -> s.b, (s, v) -> s.b = v)
                        .uint32("c", s -> s.c, (s, v) -> s.c = v)
                        .int64("d", s -> s.d, (s, v) -> s.d = v)
                        .bool("e", s -> s.e, (s, v) -> s.e = v)
                        .array(dev.livemig.vmstate.VmStateType.UINT16, "narrow", 8, s -> s.narrow)
                        .subsection(MORE, s -> s.a > 0)
                        .build();
    }

    /** Half its pages random, half zero: both kinds of page go through their paths; and a device. */
    private static Machine scratch(int seed) {
        Machine m = Machine.builder("livemig-warmup").ram("ram", SCRATCH_BYTES).build();
        var device = new ScratchDevice();
        device.a = seed + 1;
        device.d = -seed;
        m.devices().register("livemig-warmup", 0, ScratchDevice.DESCRIPTION, device);
        RamBlock ram = m.ramBlocks().getFirst();
        var rnd = new SplittableRandom(seed);
        for (long off = 0; off < ram.usedLength(); off += 2 * RamBlock.TARGET_PAGE_SIZE) {
            for (long i = 0; i < RamBlock.TARGET_PAGE_SIZE; i += 8) {
                ram.memory().set(ValueLayout.JAVA_LONG, off + i, rnd.nextLong());
            }
        }
        return m;
    }
}
