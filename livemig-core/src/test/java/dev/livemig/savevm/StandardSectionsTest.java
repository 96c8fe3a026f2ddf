package dev.livemig.savevm;

import dev.livemig.machine.Machine;
import dev.livemig.machine.Registration;
import dev.livemig.vmstate.VmStateDescription;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Where the standard sections stand in the save order, whoever asks for them first. */
class StandardSectionsTest {
    static final class Counter {
        long value;
    }

    static final VmStateDescription<Counter> COUNTER = VmStateDescription.<Counter>builder("counter").version(1)
            .uint64("value", c -> c.value, (c, v) -> c.value = v).build();

    @TempDir
    Path dir;

    private static List<String> order(Machine m) {
        return m.devices().snapshot().stream().map(Registration::idstr).toList();
    }

    @Test
    void ramComesFirstAndGlobalstateAfterTheDevicesAnApplicationRegisteredBeforeAsking() throws Exception {
        try (var source = Machine.builder("std-order").ram("mem", 64 << 10).build();
             var target = Machine.builder("std-order").ram("mem", 64 << 10).build()) {
            var counter = new Counter();
            counter.value = 42;
            source.devices().register("counter", 0, COUNTER, counter);
            StandardSections.of(source);
            assertEquals(List.of("ram", "counter", "globalstate"), order(source), "RAM first, as QEMU sets it up before any device");
            var loaded = new Counter();
            target.devices().register("counter", 0, COUNTER, loaded);
            Path file = dir.resolve("order.snap");
            Snapshots.save(source, file);
            Snapshots.load(target, file);
            assertEquals(42, loaded.value);
            assertEquals(List.of("ram", "counter", "globalstate"), order(target));
        }
    }

    @Test
    void askedFirstTheyStillFrameTheDevicesRegisteredAfterThem() {
        try (var m = Machine.builder("std-order").ram("mem", 64 << 10).build()) {
            StandardSections.of(m);
            m.devices().register("counter", 0, COUNTER, new Counter());
            m.devices().registerOpaque("opaque", 0, 1, new byte[0], dev.livemig.json.Json.object().build());
            assertEquals(List.of("ram", "counter", "opaque", "globalstate"), order(m), "as in QEMU's streams");
            m.devices().unregister("counter", 0);
            m.devices().register("late", 0, COUNTER, new Counter());
            assertEquals(List.of("ram", "opaque", "late", "globalstate"), order(m));
            assertSame(StandardSections.of(m).ram(), StandardSections.of(m).ram(), "found, not registered twice");
        }
    }
}
