package dev.livemig.host;

import dev.livemig.machine.HostFeatures;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * For tests of one kernel mechanism: skip, naming the feature, on a host that lacks it. Tests of what the
 * product does either way ask {@link HostChecks} and assert the matching contract instead of skipping.
 */
public final class HostAssumptions {
    private HostAssumptions() {
    }

    public static void assumeUserfaultfdWriteProtect() {
        assumeOk(HostChecks.userfaultfd(HostFeatures.ALL));
    }

    public static void assumePagemapScan() {
        assumeOk(HostChecks.pagemapScan(HostFeatures.ALL));
    }

    public static void assumeMsgZerocopy() {
        assumeOk(HostChecks.msgZerocopy(HostFeatures.ALL));
    }

    private static void assumeOk(HostCheck check) {
        assumeTrue(check.status() == HostCheck.Status.OK, () -> "host lacks " + check.name() + ": " + check.detail());
    }
}
