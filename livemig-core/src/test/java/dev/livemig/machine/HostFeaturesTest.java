package dev.livemig.machine;

import org.junit.jupiter.api.Test;

import java.util.EnumSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class HostFeaturesTest {

    @Test
    void anEmptyListSwitchesNothingOff() {
        assertEquals(HostFeatures.ALL, HostFeatures.parse(""));
        assertEquals(HostFeatures.ALL, HostFeatures.parse(" , "));
        for (KernelFeature f : KernelFeature.values()) {
            assertTrue(HostFeatures.ALL.allows(f), f.key());
        }
    }

    @Test
    void namedFeaturesAreSwitchedOffAndTheTextRoundTrips() {
        HostFeatures f = HostFeatures.parse("msg-zerocopy, userfaultfd-wp");
        assertEquals(Set.of(KernelFeature.USERFAULTFD_WP, KernelFeature.MSG_ZEROCOPY), f.disabled());
        assertFalse(f.allows(KernelFeature.USERFAULTFD_WP));
        assertTrue(f.allows(KernelFeature.PAGEMAP_SCAN));
        assertEquals("userfaultfd-wp,msg-zerocopy", f.toString(), "declaration order");
        assertEquals(f, HostFeatures.parse(f.toString()));
    }

    @Test
    void allSwitchesEveryFeatureOff() {
        assertEquals(EnumSet.allOf(KernelFeature.class), EnumSet.copyOf(HostFeatures.parse("all").disabled()));
    }

    @Test
    void withoutAddsToWhatIsOffAndLeavesTheOriginalAlone() {
        HostFeatures one = HostFeatures.ALL.without(KernelFeature.PAGEMAP_SCAN);
        HostFeatures two = one.without(KernelFeature.POPULATE_WRITE, KernelFeature.PAGEMAP_SCAN);
        assertEquals(Set.of(KernelFeature.PAGEMAP_SCAN), one.disabled());
        assertEquals(Set.of(KernelFeature.PAGEMAP_SCAN, KernelFeature.POPULATE_WRITE), two.disabled());
    }

    @Test
    void anUnknownNameIsRefusedWithTheKnownOnes() {
        var e = assertThrows(IllegalArgumentException.class, () -> HostFeatures.parse("userfaultfd,uffd"));
        assertEquals("unknown kernel feature \"userfaultfd\" in livemig.disable; known: all, userfaultfd-wp, "
                + "pagemap-scan, populate-write, thp, msg-zerocopy", e.getMessage());
    }

    @Test
    void everyFeatureSaysWhatItGivesAndWhatReplacesIt() {
        for (KernelFeature f : KernelFeature.values()) {
            assertFalse(f.withIt().isBlank(), f.key());
            assertFalse(f.fallback().isBlank(), f.key());
            assertEquals(f.key(), f.key().toLowerCase(java.util.Locale.ROOT));
        }
    }
}
