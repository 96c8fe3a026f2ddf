package dev.livemig.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** This process's peak resident set size (VmHWM in /proc/self/status): guest RAM, JVM and livemig's own buffers. */
final class PeakMemory {
    private PeakMemory() {
    }

    /** Bytes, or -1 where /proc does not say (not Linux). */
    static long peakResidentBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    String kb = line.substring("VmHWM:".length()).trim().split("\\s+")[0];
                    return Long.parseLong(kb) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or a format this reader does not know: no figure rather than a wrong one
        }
        return -1;
    }
}
