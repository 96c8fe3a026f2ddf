package dev.livemig.host;

import dev.livemig.json.Json;
import dev.livemig.machine.HostFeatures;
import dev.livemig.machine.KernelFeature;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code livemig check}'s findings: every line present whatever the host, consistent with each other and with
 * what the product then does, and a switched-off feature reported with its fallback on any host.
 */
class HostChecksTest {
    private static final List<String> NAMES = List.of("platform", "memory", "userfaultfd", "pagemap-scan",
            "dirty-tracking", "zero-page-on-read", "populate-write", "msg-zerocopy", "thp", "memfd", "swap", "cores",
            "first-touch");

    private static Map<String, HostCheck> byName(List<HostCheck> checks) {
        return checks.stream().collect(Collectors.toMap(HostCheck::name, Function.identity()));
    }

    @Test
    void everyCheckAnswersOnceInOrderWithADetailAndFacts() {
        List<HostCheck> checks = HostChecks.all(HostFeatures.ALL);
        assertEquals(NAMES, checks.stream().map(HostCheck::name).toList());
        for (HostCheck c : checks) {
            assertFalse(c.detail().isBlank(), c.name());
            Json.Obj json = c.toJson();
            assertEquals(List.of("name", "status", "essential", "detail", "facts"),
                    json.members().stream().map(Json.Member::name).toList());
            assertTrue(List.of("ok", "degraded", "missing").contains(json.string("status")), json.toString());
            assertFalse(c.detail().startsWith("the probe failed"), "no probe may throw: " + c);
        }
    }

    @Test
    void onlyMemoryIsEssentialAndTheTestsThemselvesProveItWorks() {
        Map<String, HostCheck> checks = byName(HostChecks.all(HostFeatures.ALL));
        assertEquals(List.of("memory"), checks.values().stream().filter(HostCheck::essential).map(HostCheck::name).toList());
        assertEquals(HostCheck.Status.OK, checks.get("memory").status(), "these tests map guest RAM all the time");
        assertTrue(checks.values().stream().allMatch(HostCheck::permitsRunning));
    }

    @Test
    void dirtyTrackingIsTransparentExactlyWhenUserfaultfdAndPagemapScanAreOk() {
        Map<String, HostCheck> checks = byName(HostChecks.all(HostFeatures.ALL));
        boolean both = checks.get("userfaultfd").status() == HostCheck.Status.OK
                && checks.get("pagemap-scan").status() == HostCheck.Status.OK;
        assertEquals(both, checks.get("dirty-tracking").status() == HostCheck.Status.OK, checks.values().toString());
        assertEquals(both ? "userfaultfd" : "explicit", checks.get("dirty-tracking").facts().string("tracker"));
    }

    @Test
    void theZeroPageFindingIsWhatTheProbeSays() {
        HostCheck zero = byName(HostChecks.all(HostFeatures.ALL)).get("zero-page-on-read");
        var probed = HostChecks.readFaultMapsZeroPage();
        assertEquals(probed.isPresent(), zero.facts().get("known").orElseThrow().equals(Json.of(true)));
        probed.ifPresent(shared -> {
            assertEquals(Json.of(shared), zero.facts().get("shared_zero_page").orElseThrow());
            assertEquals(shared ? HostCheck.Status.OK : HostCheck.Status.DEGRADED, zero.status());
        });
    }

    @Test
    void aSwitchedOffFeatureIsNeverOkAndNamesItsFallback() {
        Map<String, HostCheck> off = byName(HostChecks.all(HostFeatures.parse("all")));
        for (String name : List.of("userfaultfd", "pagemap-scan", "dirty-tracking", "populate-write", "msg-zerocopy",
                "zero-page-on-read", "thp")) {
            assertNotEquals(HostCheck.Status.OK, off.get(name).status(), off.get(name).toString());
        }
        assertEquals("explicit", off.get("dirty-tracking").facts().string("tracker"));
        HostCheck populate = off.get("populate-write");
        assertTrue(populate.detail().contains(KernelFeature.POPULATE_WRITE.fallback()), populate.detail());
        HostCheck thp = off.get("thp");
        assertTrue(thp.detail().contains(KernelFeature.TRANSPARENT_HUGEPAGES.fallback()), thp.detail());
        HostCheck zeroCopy = off.get("msg-zerocopy");
        assertTrue(zeroCopy.detail().contains("zero-copy-send"), zeroCopy.detail());
        assertTrue(off.values().stream().allMatch(HostCheck::permitsRunning), "livemig runs without any of them");
    }

    @Test
    void whatTheKernelOffersIsReportedEvenWhenSwitchedOff() {
        Map<String, HostCheck> all = byName(HostChecks.all(HostFeatures.ALL));
        Map<String, HostCheck> off = byName(HostChecks.all(HostFeatures.parse("all")));
        for (String name : List.of("pagemap-scan", "populate-write", "msg-zerocopy")) {
            assertEquals(all.get(name).facts().get("available"), off.get(name).facts().get("available"), name);
            if (all.get(name).status() == HostCheck.Status.OK) {
                assertTrue(off.get(name).detail().startsWith("offered, but switched off (livemig.disable="),
                        off.get(name).detail());
            }
        }
    }

    @Test
    void firstTouchIsMeasuredInSmallAndInHugePages() {
        HostCheck touch = HostChecks.firstTouch();
        assertTrue(touch.facts().number("mib_per_s") > 0, touch.toString());
        assertTrue(touch.facts().number("huge_mib_per_s") > 0, touch.toString());
        assertTrue(touch.detail().contains(touch.facts().number("mib_per_s") + " MiB/s"), touch.detail());
        assertTrue(touch.detail().contains(touch.facts().number("huge_mib_per_s") + " MiB/s"), touch.detail());
    }

    @Test
    void hugePagesAreOkExactlyWhenTheHostGivesThemToAdvisedMemory() {
        HostCheck thp = HostChecks.transparentHugePages(HostFeatures.ALL);
        var gets = HostChecks.advisedMemoryGetsHugePages();
        assertEquals(gets.map(String::valueOf).orElse("unknown"), thp.facts().string("advised_memory_gets_huge_pages"));
        boolean never = thp.facts().string("mode").equals("never") || thp.facts().string("mode").equals("absent");
        if (gets.isPresent()) {
            assertEquals(gets.get(), thp.status() == HostCheck.Status.OK, thp.toString());
            if (never) {
                assertFalse(gets.get(), "THP mode never, yet huge pages: " + thp);
            }
        }
    }

    @Test
    void theUidIsThisProcesses() throws Exception {
        long uid = (Integer) java.nio.file.Files.getAttribute(java.nio.file.Path.of("/proc/self"), "unix:uid");
        assertEquals(uid, HostChecks.uid());
    }
}
