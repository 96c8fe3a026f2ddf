package dev.livemig.qemu;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * How to launch one QEMU for {@link QemuProcess#start}: machine type, RAM size, paused ({@code -S}) or
 * incoming ({@code -incoming URI}), boot-time memory images and any extra arguments. Immutable; the
 * {@code with...} methods return modified copies.
 *
 * @param machine      {@code -machine} value, e.g. {@code pc} (resolves to {@code pc-i440fx-7.2}) or {@code q35}
 * @param memory       {@code -m} value, e.g. {@code 32M}
 * @param paused       adds {@code -S}: the guest stays in run state {@code prelaunch} and never executes; with
 *                     {@code incoming} it keeps a loaded "running" guest from starting
 * @param incoming     {@code -incoming} URI (e.g. {@code exec:cat FILE}), or null
 * @param images       guest memory written at machine reset, before any instruction runs
 * @param extraArgs    appended verbatim after the harness's own arguments
 * @param startTimeout bound for QEMU to create its QMP socket and answer the greeting
 * @param version      which QEMU build runs (default 7.2, the system's)
 */
public record QemuOptions(String machine, String memory, boolean paused, String incoming, List<MemoryImage> images,
                          List<String> extraArgs, Duration startTimeout, QemuVersion version) {

    /**
     * Bytes placed at guest-physical address {@code gpa} by a {@code -device loader,force-raw=on} device. The
     * loader registers a ROM blob (no RAM block, no migration section) that QEMU copies into whatever is mapped
     * at {@code gpa} on every reset, so it only makes sense for RAM ranges (see docs/qemu-7.2-notes.md).
     */
    public record MemoryImage(long gpa, byte[] bytes) {
        public MemoryImage {
            if (gpa < 0 || bytes.length == 0) {
                throw new IllegalArgumentException("memory image needs gpa >= 0 and at least one byte");
            }
            bytes = bytes.clone();
        }

        @Override
        public byte[] bytes() {
            return bytes.clone();
        }
    }

    public QemuOptions {
        images = List.copyOf(images);
        extraArgs = List.copyOf(extraArgs);
    }

    /** A paused guest of the given machine with 32 MiB of RAM. */
    public static QemuOptions paused(String machine) {
        return new QemuOptions(machine, "32M", true, null, List.of(), List.of(), Duration.ofSeconds(15), QemuVersion.V7_2);
    }

    /** A guest of the given machine with 32 MiB of RAM that loads its state from {@code uri}. */
    public static QemuOptions incoming(String machine, String uri) {
        return new QemuOptions(machine, "32M", false, uri, List.of(), List.of(), Duration.ofSeconds(15), QemuVersion.V7_2);
    }

    public QemuOptions withPaused(boolean value) {
        return new QemuOptions(machine, memory, value, incoming, images, extraArgs, startTimeout, version);
    }

    public QemuOptions withMemory(String size) {
        return new QemuOptions(machine, size, paused, incoming, images, extraArgs, startTimeout, version);
    }

    public QemuOptions withImage(long gpa, byte[] bytes) {
        List<MemoryImage> more = new ArrayList<>(images);
        more.add(new MemoryImage(gpa, bytes));
        return new QemuOptions(machine, memory, paused, incoming, more, extraArgs, startTimeout, version);
    }

    public QemuOptions withArgs(String... args) {
        List<String> more = new ArrayList<>(extraArgs);
        more.addAll(List.of(args));
        return new QemuOptions(machine, memory, paused, incoming, images, more, startTimeout, version);
    }

    /** The same guest on another QEMU build. */
    public QemuOptions on(QemuVersion qemu) {
        return new QemuOptions(machine, memory, paused, incoming, images, extraArgs, startTimeout, qemu);
    }

    public QemuOptions withStartTimeout(Duration timeout) {
        return new QemuOptions(machine, memory, paused, incoming, images, extraArgs, timeout, version);
    }
}
