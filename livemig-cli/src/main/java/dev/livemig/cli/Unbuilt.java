package dev.livemig.cli;

import java.util.List;

/** Refuses options whose capability livemig does not have yet, with a message that says so. */
final class Unbuilt {
    private Unbuilt() {
    }

    static void refuseCapabilities(List<String> capabilities) {
        if (!capabilities.isEmpty()) {
            throw new IllegalArgumentException("capability " + capabilities.getFirst()
                    + " is not built yet: this version moves the guest as a snapshot (no live precopy, no capabilities)");
        }
    }

    static void refuseParameters(List<String> parameters) {
        if (!parameters.isEmpty()) {
            throw new IllegalArgumentException("parameter " + parameters.getFirst().split("=", 2)[0]
                    + " is not built yet: this version moves the guest as a snapshot (no live precopy, no parameters)");
        }
    }
}
