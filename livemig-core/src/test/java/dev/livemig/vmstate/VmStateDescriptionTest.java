package dev.livemig.vmstate;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The builder refuses descriptions QEMU's loader could not follow, and qualifies the field added last. */
class VmStateDescriptionTest {
    static final class Thing {
        long v;
        boolean on;
    }

    @Test
    void sinceAndOnlyIfQualifyTheLastField() {
        var d = VmStateDescription.<Thing>builder("thing").version(3)
                .uint8("a", t -> t.v, (t, v) -> t.v = v)
                .uint8("b", t -> t.v, (t, v) -> t.v = v).since(2).onlyIf((t, v) -> t.on)
                .build();
        var a = d.fields().get(0).presence();
        var b = d.fields().get(1).presence();
        assertEquals(0, a.since());
        assertFalse(a.hasTest());
        assertEquals(2, b.since());
        assertTrue(b.hasTest());
        assertFalse(b.includedIn(new Thing(), 3));
    }

    @Test
    void subsectionMustBeNamedAfterItsParent() {
        var sub = VmStateDescription.<Thing>builder("other/x").build();
        var e = assertThrows(IllegalArgumentException.class,
                () -> VmStateDescription.<Thing>builder("thing").subsection(sub).build());
        assertTrue(e.getMessage().contains("other/x"));
        var same = VmStateDescription.<Thing>builder("thing").build();
        assertThrows(IllegalArgumentException.class, () -> VmStateDescription.<Thing>builder("thing").subsection(same).build());
    }

    @Test
    void minimumVersionAboveVersionIsRefused() {
        assertThrows(IllegalArgumentException.class,
                () -> VmStateDescription.<Thing>builder("thing").version(1).minimumVersion(2).build());
    }

    @Test
    void negativeDeclaredSizesAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> VmStateDescription.<Thing>builder("thing").unused("pad", -1));
        assertThrows(IllegalArgumentException.class, () -> VmStateDescription.<Thing>builder("thing").buffer("b", -1, t -> null));
    }

    @Test
    void neededDefaultsToTrueAndSubsectionInheritsItsDescriptionsNeeded() {
        var sub = VmStateDescription.<Thing>builder("thing/on").needed(t -> t.on).build();
        var d = VmStateDescription.<Thing>builder("thing").subsection(sub).build();
        var t = new Thing();
        assertTrue(d.needed(t));
        assertFalse(d.subsections().getFirst().needed().test(t));
        t.on = true;
        assertTrue(d.subsections().getFirst().needed().test(t));
    }
}
