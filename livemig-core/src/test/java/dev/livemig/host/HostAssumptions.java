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

    /** Missing-page userfaultfd (postcopy's), which every Linux 5.11+ grants user-mode-only without privilege. */
    public static void assumeUserfaultfdMissing() {
        try (var uffd = dev.livemig.linux.Userfaultfd.openMissing()) {
            assumeTrue(uffd.features() >= 0);
        } catch (dev.livemig.linux.NativeCallException e) {
            assumeTrue(false, () -> "host lacks missing-page userfaultfd: " + e.getMessage());
        }
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
