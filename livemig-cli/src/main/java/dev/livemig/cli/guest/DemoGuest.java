package dev.livemig.cli.guest;

import dev.livemig.machine.Machine;
import dev.livemig.machine.RamBlock;
import dev.livemig.machine.Registration;
import dev.livemig.vmstate.VmStateCodec;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamWriter;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * The demo guest: one RAM block swept by a {@link PageSweeper} (QEMU migration-test style), a console and a
 * counter device. Source and destination build it with the same options; the destination then checks it
 * with {@link #verify}: the sweep rule on RAM and, when the source's digests are known, exact equality.
 */
public final class DemoGuest implements AutoCloseable {
    public static final String MACHINE_TYPE = "livemig-demo-1";
    public static final String RAM_BLOCK = "guest.ram";
    /** The digest of RAM without the sweep counters (the first 8 bytes of each page). */
    public static final String RAM_CONTENT = "guest.ram.content";

    private final Machine machine;
    private final PageSweeper sweeper;
    private final ConsoleDevice console = new ConsoleDevice();
    private final CounterDevice counter = new CounterDevice();
    private final SlowLoadDevice slowDevice = new SlowLoadDevice();

    private final java.lang.foreign.Arena ramArena; // the RAM's mapping when it is a memory file; null for anonymous RAM

    /** Its RAM anonymous memory. */
    public DemoGuest(long ramBytes, long dirtyBytesPerSecond) {
        this(ramBytes, dirtyBytesPerSecond, null, null);
    }

    /**
     * Its RAM a memfd: memory with a descriptor, which cpr-transfer hands to the new process. With {@code cprTransfer}
     * it is the guest cpr-transfer moves ({@link #overHandedOver}): it also runs a {@link CounterService} on loopback
     * (its sockets go with the RAM), and has no slowdev.
     */
    public static DemoGuest overMemfd(long ramBytes, long dirtyBytesPerSecond, boolean cprTransfer) {
        return new DemoGuest(ramBytes, dirtyBytesPerSecond, arena -> RamBlock.memfd(arena, RAM_BLOCK, ramBytes),
                cprTransfer ? () -> CounterService.listen(new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0)) : null);
    }

    /**
     * The new process of a cpr-transfer: its RAM is the memory the old one handed over, left as it is, and its service
     * continues on the sockets the old one handed over. It has no slowdev: cpr modes stop the guest before the
     * destination prepares its devices, so a device that needs 500 ms of preparation would add them to the downtime
     * (QEMU plans to keep such devices in place across CPR instead).
     */
    public static DemoGuest overHandedOver(dev.livemig.cpr.CprIncoming cpr, long ramBytes, long dirtyBytesPerSecond) {
        return new DemoGuest(ramBytes, dirtyBytesPerSecond, arena -> cpr.ramBlock(arena, RAM_BLOCK, ramBytes),
                () -> CounterService.takeOver(cpr));
    }

    /** Makes the RAM block in the arena it lives in. */
    private interface RamOf {
        RamBlock in(java.lang.foreign.Arena arena) throws java.io.IOException;
    }

    /** Makes the guest's service. */
    private interface ServiceOf {
        CounterService make() throws java.io.IOException;
    }

    private final CounterService service; // cpr-transfer's guest only
    private volatile java.time.Instant firstResumed;

    /** {@code serviceOf} null: no service, and slowdev; otherwise the service, and no slowdev (cpr-transfer's guest). */
    private DemoGuest(long ramBytes, long dirtyBytesPerSecond, RamOf ramOf, ServiceOf serviceOf) {
        var builder = Machine.builder(MACHINE_TYPE);
        this.ramArena = ramOf == null ? null : java.lang.foreign.Arena.ofShared();
        if (ramOf == null) {
            builder.ram(RAM_BLOCK, ramBytes);
        } else {
            try {
                builder.ram(ramOf.in(ramArena));
            } catch (java.io.IOException e) {
                ramArena.close();
                throw new java.io.UncheckedIOException(e);
            }
        }
        PageSweeper[] cpu = new PageSweeper[1];
        CounterService[] net = new CounterService[1];
        builder.hooks(new Machine.RunStateHooks() {
            @Override
            public void pause() {
                cpu[0].pause();
                if (net[0] != null) {
                    net[0].pause();
                }
            }

            @Override
            public void resume() {
                captureDevicesOnce();
                if (firstResumed == null) {
                    firstResumed = java.time.Instant.now();
                }
                cpu[0].resume();
                if (net[0] != null) {
                    net[0].resume();
                }
            }
        });
        this.machine = builder.build();
        RamBlock ram = machine.ramBlock(RAM_BLOCK).orElseThrow();
        this.sweeper = new PageSweeper(ram, machine.cpuThrottle(), dirtyBytesPerSecond, round -> {
            counter.roundDone(round, System.nanoTime());
            console.println("round " + round + " done");
        });
        cpu[0] = sweeper;
        dev.livemig.savevm.StandardSections.of(machine); // "ram" first, as in QEMU
        try {
            this.service = serviceOf == null ? null : serviceOf.make();
        } catch (java.io.IOException e) {
            machine.close();
            if (ramArena != null) {
                ramArena.close();
            }
            throw new java.io.UncheckedIOException(e);
        }
        net[0] = service;
        if (service == null) {
            machine.devices().registerLive(SlowLoadDevice.IDSTR, 0, 1, slowDevice);
        }
        machine.devices().register("cpu", 0, PageSweeper.DESCRIPTION, sweeper);
        machine.devices().register("console", 0, ConsoleDevice.DESCRIPTION, console);
        machine.devices().register("counter", 0, CounterDevice.DESCRIPTION, counter);
        if (service != null) {
            machine.devices().register(CounterService.IDSTR, 0, CounterService.DESCRIPTION, service);
        }
    }

    /** The guest's network service (cpr-transfer's guest), if it runs one. */
    public java.util.Optional<CounterService> service() {
        return java.util.Optional.ofNullable(service);
    }

    /** When the guest first ran in this process (null before): with the source's stop, a cpr-transfer's pause. */
    public java.time.Instant firstResumed() {
        return firstResumed;
    }

    private volatile boolean captureAtResume;
    private volatile Map<String, String> devicesAtStart;

    /**
     * Keeps the device digests of the moment the guest next starts, before its CPU runs: a destination whose
     * guest starts at the switch to postcopy (and runs while its RAM still arrives) is checked against them.
     */
    public void captureDevicesAtNextResume() {
        try {
            deviceDigests(); // once now, so that the capture at the start runs warm code, not the guest's start late
        } catch (MigrationException e) {
            // the capture itself will say what is wrong
        }
        captureAtResume = true;
    }

    /** The device digests taken when the guest started (see {@link #captureDevicesAtNextResume}); null before. */
    public Map<String, String> devicesAtStart() {
        return devicesAtStart;
    }

    private void captureDevicesOnce() {
        if (captureAtResume && devicesAtStart == null) {
            try {
                devicesAtStart = deviceDigests();
            } catch (MigrationException e) {
                devicesAtStart = Map.of("error", e.getMessage());
            }
        }
    }

    /** Pages its CPU has written so far: their rate is how fast the guest dirties memory. */
    public long pagesWritten() {
        return sweeper.pagesWritten();
    }

    public Machine machine() {
        return machine;
    }

    public ConsoleDevice console() {
        return console;
    }

    public CounterDevice counter() {
        return counter;
    }

    public SlowLoadDevice slowDevice() {
        return slowDevice;
    }

    /**
     * Fills every other 4 KiB page with pseudo-random bytes (the rest stay zero), so RAM has real content. The
     * first 8 bytes of each page stay zero: byte 0 is the sweep counter.
     */
    public void fillHalf(long seed) {
        RamBlock ram = machine.ramBlock(RAM_BLOCK).orElseThrow();
        var rnd = new java.util.SplittableRandom(seed);
        for (long off = RamBlock.TARGET_PAGE_SIZE; off < ram.usedLength(); off += 2L * RamBlock.TARGET_PAGE_SIZE) {
            for (int i = 8; i < RamBlock.TARGET_PAGE_SIZE; i += 8) {
                ram.memory().set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, off + i, rnd.nextLong());
            }
        }
    }

    /**
     * CRC32C of the RAM block and of each device's encoded state: what must be equal after a migration
     * (globalstate is the migration's own record of the run state, not guest state).
     */
    public Map<String, String> digests() throws MigrationException {
        var out = new LinkedHashMap<String, String>();
        RamBlock ram = machine.ramBlock(RAM_BLOCK).orElseThrow();
        var crc = new CRC32C();
        update(crc, ram.memory(), 1L << 30);
        out.put(RAM_BLOCK, Long.toHexString(crc.getValue()));
        var content = new CRC32C(); // all but each page's counter: what a guest that ran since must still hold
        for (long off = 0; off < ram.usedLength(); off += RamBlock.TARGET_PAGE_SIZE) {
            content.update(ram.memory().asSlice(off + 8, RamBlock.TARGET_PAGE_SIZE - 8).asByteBuffer());
        }
        out.put(RAM_CONTENT, Long.toHexString(content.getValue()));
        out.putAll(deviceDigests());
        return out;
    }

    /** Feeds {@code memory} to {@code crc} in slices of at most {@code sliceBytes}: a ByteBuffer holds under 2 GiB. */
    static void update(CRC32C crc, java.lang.foreign.MemorySegment memory, long sliceBytes) {
        for (long off = 0; off < memory.byteSize(); off += sliceBytes) {
            crc.update(memory.asSlice(off, Math.min(sliceBytes, memory.byteSize() - off)).asByteBuffer());
        }
    }

    private Map<String, String> deviceDigests() throws MigrationException {
        var out = new LinkedHashMap<String, String>();
        for (Registration r : machine.devices().snapshot()) {
            if (r instanceof Registration.Device<?> d && !r.idstr().equals(dev.livemig.savevm.GlobalState.IDSTR)) {
                out.put(r.idstr(), deviceDigest(d));
            }
        }
        return out;
    }

    private static <T> String deviceDigest(Registration.Device<T> d) throws MigrationException {
        var w = StreamWriter.inMemory();
        VmStateCodec.save(w, d.description(), d.state());
        var crc = new CRC32C();
        crc.update(w.toByteArray());
        return Long.toHexString(crc.getValue());
    }

    /** The sweep rule's verdict (null: it holds) and the digests, read at one instant of a still guest. */
    public record Reading(String sweepProblem, Map<String, String> digests) {
    }

    /**
     * Reads the guest paused (pausing and resuming it if it runs): a QMP client may {@code cont} the destination
     * the moment the migration completes, and a sweep read page by page while it moves breaks the rule by itself.
     */
    public Reading read() throws MigrationException {
        if (service != null && machine.runState().isRunning()) {
            // a running service stays up: only the sweeping CPU holds still while RAM is read (a second or more
            // for gigabytes, which its clients would otherwise wait out); the service's own digest moves meanwhile
            sweeper.pause();
            try {
                return new Reading(SweepVerifier.check(machine.ramBlock(RAM_BLOCK).orElseThrow()), digests());
            } finally {
                sweeper.resume();
            }
        }
        return machine.whilePaused(() -> new Reading(SweepVerifier.check(machine.ramBlock(RAM_BLOCK).orElseThrow()), digests()));
    }

    /** Null when the guest passes every check, else what failed. {@code expected} may be empty (sweep rule only). */
    public String verify(Map<String, String> expected) throws MigrationException {
        Reading r = read();
        if (r.sweepProblem() != null) {
            return r.sweepProblem();
        }
        for (var e : expected.entrySet()) {
            if (!e.getValue().equals(r.digests().get(e.getKey()))) {
                return e.getKey() + " differs: expected digest " + e.getValue() + ", got " + r.digests().get(e.getKey());
            }
        }
        return null;
    }

    @Override
    public void close() {
        sweeper.stop();
        if (service != null) {
            service.close();
        }
        machine.close();
        if (ramArena != null) {
            ramArena.close();
        }
    }
}
