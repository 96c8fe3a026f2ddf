package dev.livemig.host;

import dev.livemig.json.Json;
import dev.livemig.machine.HostFeatures;
import dev.livemig.machine.KernelFeature;

/**
 * What a benchmark ran with, printed beside its figures so that results from different hosts of one kind can be
 * compared: the THP settings, whether livemig asked for huge pages, and how fast fresh memory is backed.
 */
public record HostFacts(HostCheck thp, boolean hugePagesAsked, FirstTouch firstTouch) {
    /** 64 MiB per measurement: about 0.2 s on the slowest host seen, small beside any migration measured. */
    private static final long FIRST_TOUCH_BYTES = 64L << 20;

    public static HostFacts measure(HostFeatures features) {
        return new HostFacts(HostChecks.transparentHugePages(features),
                features.allows(KernelFeature.TRANSPARENT_HUGEPAGES), FirstTouch.measure(FIRST_TOUCH_BYTES));
    }

    public Json.Obj toJson() {
        return Json.object().put("thp", thp.facts()).put("huge_pages_asked", hugePagesAsked)
                .put("first_touch", firstTouch.toJson()).put("cores", Runtime.getRuntime().availableProcessors())
                .put("kernel", System.getProperty("os.version")).build();
    }

    /** One line for people: "THP madvise (asked), first touch 1200 MiB/s in 4 KiB pages, 4100 MiB/s in huge pages". */
    public String summary() {
        return "THP " + thp.facts().string("mode") + (hugePagesAsked ? " (huge pages asked for guest RAM)" : " (not asked)")
                + ", first touch " + firstTouch.smallMibPerSecond() + " MiB/s in 4 KiB pages, "
                + firstTouch.hugeMibPerSecond() + " MiB/s in huge pages, " + Runtime.getRuntime().availableProcessors()
                + " cores";
    }
}
