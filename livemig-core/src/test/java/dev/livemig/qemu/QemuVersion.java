package dev.livemig.qemu;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The two QEMU builds the interop tests speak to: Debian's system QEMU 7.2 on PATH, and QEMU 10.0 from
 * bookworm-backports unpacked beside it by scripts/install-qemu10.sh (run by ./test). Each knows how to be
 * launched and which machine types "pc" and "q35" resolve to. A build that is not installed fails the test
 * that needs it with the command that installs it: CI runs every interop test against both.
 */
public enum QemuVersion {
    V7_2("7.2", null),
    V10_0("10.0", "qemu-10.0");

    private final String label;
    private final String cacheLink;

    QemuVersion(String label, String cacheLink) {
        this.label = label;
        this.cacheLink = cacheLink;
    }

    /** "7.2" or "10.0": the suffix of the machine types this build resolves "pc" and "q35" to. */
    public String label() {
        return label;
    }

    /** The machine type this build writes in the configuration record for "pc" or "q35". */
    public String machineType(String machine) {
        return (machine.equals("q35") ? "pc-q35-" : "pc-i440fx-") + label;
    }

    private Path root() {
        String cache = System.getenv().getOrDefault("LIVEMIG_TEST_DEPS_CACHE", "/var/cache/livemig-test-deps");
        return Path.of(cache, cacheLink);
    }

    /** The qemu-system-x86_64 to run. */
    public String binary() throws QemuException {
        if (cacheLink == null) {
            return QemuProcess.BINARY;
        }
        Path b = root().resolve("usr/bin/qemu-system-x86_64");
        if (!Files.isExecutable(b)) {
            throw new QemuException("QEMU " + label + " is not installed at " + b + "; run scripts/install-test-deps.sh");
        }
        return b.toString();
    }

    /** Arguments that must come first: where this build's firmware and option ROMs are. */
    public List<String> firmwareArgs() {
        if (cacheLink == null) {
            return List.of();
        }
        return List.of("-L", root().resolve("usr/share/qemu").toString(), "-L", "/usr/share/seabios");
    }

    /** Environment the build needs (its loadable modules live beside it, not where it was built for). */
    public Map<String, String> environment() {
        if (cacheLink == null) {
            return Map.of();
        }
        return Map.of("QEMU_MODULE_DIR", root().resolve("usr/lib/x86_64-linux-gnu/qemu").toString());
    }

    @Override
    public String toString() {
        return "QEMU " + label;
    }
}
