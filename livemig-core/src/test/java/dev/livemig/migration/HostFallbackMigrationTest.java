package dev.livemig.migration;

import dev.livemig.linux.HostFeatures;
import dev.livemig.machine.Machine;
import dev.livemig.machine.RamBlock;
import dev.livemig.savevm.StandardSections;
import dev.livemig.transport.MigrationUri;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.ValueLayout;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Every kernel feature switched off in turn ({@code livemig.disable}), on both ends: the fallback is taken and a
 * running guest still arrives byte for byte, on any host, whatever the kernel offers.
 */
class HostFallbackMigrationTest {
    private static final long RAM = 16L << 20;
    private static final long PAGE = RamBlock.TARGET_PAGE_SIZE;

    /** A machine whose one thread writes pages in turn and reports each write with markDirty. */
    private static final class WritingMachine implements AutoCloseable {
        final Machine machine;
        final RamBlock ram;
        private volatile boolean run;
        private volatile boolean idle = true;
        private volatile boolean closed;
        private volatile long writes;
        private final Thread writer;

        WritingMachine(HostFeatures features) {
            machine = Machine.builder("livemig-test").ram("ram", RAM).hostFeatures(features).hooks(new Machine.RunStateHooks() {
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
                }
            }).build();
            ram = machine.ramBlock("ram").orElseThrow();
            for (long p = 0; p < ram.targetPages(); p += 2) { // half the pages hold data, half are zero
                ram.memory().set(ValueLayout.JAVA_LONG, p * PAGE + 16, p + 1);
            }
            writer = Thread.ofPlatform().name("test-writer").daemon().start(this::loop);
        }

        private void loop() {
            long pages = ram.targetPages();
            long p = 0;
            while (!closed) {
                idle = false;
                if (run) {
                    long off = (p * 7 % pages) * PAGE; // strides over the block, zero pages included
                    ram.memory().set(ValueLayout.JAVA_LONG, off, ram.memory().get(ValueLayout.JAVA_LONG, off) + 1);
                    ram.markDirty(off, PAGE);
                    writes++;
                    p++;
                }
                idle = true;
                if (!run || p % 64 == 0) {
                    java.util.concurrent.locks.LockSupport.parkNanos(100_000);
                }
            }
        }

        @Override
        public void close() {
            closed = true;
            try {
                writer.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            machine.close();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"userfaultfd-wp", "pagemap-scan", "populate-write", "all"})
    void aRunningGuestArrivesIdenticalWithTheFeatureSwitchedOff(String disabled) throws Exception {
        HostFeatures features = HostFeatures.parse(disabled);
        var config = new MigrationConfig(Set.of(), 300, 64L << 20); // several passes while the guest writes
        try (var source = new WritingMachine(features); var dest = new WritingMachine(features)) {
            var incoming = new IncomingMigration(dest.machine, config, false, e -> { });
            MigrationUri address = incoming.listen(MigrationUri.parse("tcp:127.0.0.1:0"));
            source.machine.resume();
            var m = new Migration(source.machine, config, e -> { });
            m.start(address);
            assertEquals(MigrationStatus.COMPLETED, m.awaitFinished(60, TimeUnit.SECONDS), m.info().toJson().toString());
            assertEquals(MigrationStatus.COMPLETED, incoming.awaitFinished(30, TimeUnit.SECONDS));
            assertTrue(source.writes > 0, "the guest wrote during the migration");
            assertEquals(-1, source.ram.memory().mismatch(dest.ram.memory()), "RAM differs after the migration");
            String tracker = StandardSections.of(source.machine).ram().trackerName();
            if (!features.allows(dev.livemig.linux.KernelFeature.USERFAULTFD_WP)
                    || !features.allows(dev.livemig.linux.KernelFeature.PAGEMAP_SCAN)) {
                assertTrue(tracker.startsWith("explicit") && tracker.contains("switched off"), tracker);
            }
        }
    }

    @Test
    void zeroCopySendWithMsgZerocopySwitchedOffFailsAsOnAKernelWithoutItAndTheSourceRunsOn() throws Exception {
        HostFeatures features = HostFeatures.parse("msg-zerocopy");
        var config = new MigrationConfig(Set.of("multifd", "zero-copy-send"), 300, 1L << 30);
        try (var source = new WritingMachine(features); var dest = new WritingMachine(HostFeatures.ALL)) {
            var incoming = new IncomingMigration(dest.machine, config, false, e -> { });
            MigrationUri address = incoming.listen(MigrationUri.parse("tcp:127.0.0.1:0"));
            source.machine.resume();
            var m = new Migration(source.machine, config, e -> { });
            m.start(address);
            assertEquals(MigrationStatus.FAILED, m.awaitFinished(30, TimeUnit.SECONDS));
            assertEquals("Zero copy send feature not detected in host kernel", m.info().errorDesc());
            assertTrue(source.machine.runState().isRunning(), "the source keeps running");
            incoming.cancel();
            incoming.awaitFinished(10, TimeUnit.SECONDS);
        }
    }
}
