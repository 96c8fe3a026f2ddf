package dev.livemig.machine;

import dev.livemig.vmstate.VmStateDescription;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class DeviceRegistryTest {
    static final class Reg {
        long v;
    }

    private static final VmStateDescription<Reg> REG = VmStateDescription.<Reg>builder("reg").version(1)
            .uint8("v", r -> r.v, (r, x) -> r.v = x).build();

    @Test
    void autoInstanceIdsFollowTheHighestOfTheSameIdstr() {
        var registry = new DeviceRegistry();
        assertEquals(0, registry.register("dma", DeviceRegistry.AUTO_INSTANCE, REG, new Reg()).instanceId());
        assertEquals(5, registry.register("dma", 5, REG, new Reg()).instanceId());
        assertEquals(6, registry.register("dma", DeviceRegistry.AUTO_INSTANCE, REG, new Reg()).instanceId());
        assertEquals(0, registry.register("i8259", DeviceRegistry.AUTO_INSTANCE, REG, new Reg()).instanceId());
    }

    @Test
    void sectionIdsAreUniqueNonZeroAndInRegistrationOrder() {
        var registry = new DeviceRegistry();
        var a = registry.register("a", 0, REG, new Reg());
        var b = registry.register("b", 0, REG, new Reg());
        assertEquals(1, a.sectionId(), "id 0 would collide with QEMU's default remembered id");
        assertEquals(2, b.sectionId());
        assertEquals(java.util.List.of(a, b), registry.snapshot());
    }

    @Test
    void duplicatesAndBadIdstrsAreRefused() {
        var registry = new DeviceRegistry();
        registry.register("a", 0, REG, new Reg());
        assertThrows(IllegalArgumentException.class, () -> registry.register("a", 0, REG, new Reg()));
        assertThrows(IllegalArgumentException.class, () -> registry.register("", 0, REG, new Reg()));
        assertThrows(IllegalArgumentException.class, () -> registry.register("x".repeat(256), 0, REG, new Reg()));
        assertThrows(IllegalArgumentException.class, () -> registry.register("b", -7, REG, new Reg()));
    }

    @Test
    void unregisterRemovesOnlyThatInstance() {
        var registry = new DeviceRegistry();
        registry.register("a", 0, REG, new Reg());
        registry.register("a", 1, REG, new Reg());
        assertTrue(registry.unregister("a", 0));
        assertFalse(registry.unregister("a", 0));
        assertTrue(registry.find("a", 1).isPresent());
        assertTrue(registry.find("a", 0).isEmpty());
    }
}
