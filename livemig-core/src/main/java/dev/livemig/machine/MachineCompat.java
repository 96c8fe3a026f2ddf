package dev.livemig.machine;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The wire choices QEMU does not negotiate but derives from the machine type (the compat properties of its
 * {@code migration} object, format reference §0.2): both ends of a migration must make the same ones. A QEMU
 * machine type ({@code pc-i440fx-7.2}, {@code pc-q35-10.0}) gets exactly QEMU's choices for that version, so a
 * 7.2 machine type speaks 7.2's dialect; any other name (livemig's own machines) speaks current QEMU's. A
 * destination needs none of this: it reads either dialect from what arrives.
 *
 * @param multifdFlushAfterEachSection 7.2's multifd sync at every RAM section's EOS (machine types up to 8.0);
 *                                     otherwise once per pass over RAM, marked by MULTIFD_FLUSH records
 * @param sendSwitchoverStart          the SWITCHOVER_START command as switchover begins (10.0 and later)
 * @param multifdZeroPages             zero-page-detection's default: zero pages travel inside multifd packets
 *                                     (9.0 and later: "multifd") rather than as ZERO records on the main
 *                                     channel (up to 8.2: "legacy")
 * @param compressReadable             whether a destination of this machine type can read the compress
 *                                     capability's COMPRESS_PAGE records: QEMU 9.1 removed that capability, so no
 *                                     QEMU that has a 9.1 or later machine type does; livemig's own machines do
 * @param preemptAtSetup               x-preempt-pre-7-2 (machine types up to 7.2): the postcopy-preempt channel is
 *                                     connected at the start of the migration, and ends with an EOS word;
 *                                     otherwise at the switch, after the PONG of PING(1), without EOS (§12.7)
 */
public record MachineCompat(boolean multifdFlushAfterEachSection, boolean sendSwitchoverStart, boolean multifdZeroPages,
                            boolean compressReadable, boolean preemptAtSetup) {
    /** QEMU 7.2's behaviour (and what current QEMU does for a 7.2 machine type). */
    public static final MachineCompat QEMU_7_2 = new MachineCompat(true, false, false, true, true);
    /** Current QEMU's (10.0) wire choices, for livemig's own machines (whose destinations still read compress). */
    public static final MachineCompat CURRENT = new MachineCompat(false, true, true, true, false);

    private static final Pattern QEMU_PC = Pattern.compile("pc-(?:i440fx|q35)-(\\d+)\\.(\\d+)(?:\\.\\d+)?");

    /** QEMU's choices for {@code machineType}; {@link #CURRENT} for a name that is not a versioned QEMU PC type. */
    public static MachineCompat forMachineType(String machineType) {
        Matcher m = QEMU_PC.matcher(machineType);
        if (!m.matches()) {
            return CURRENT;
        }
        int major = Integer.parseInt(m.group(1));
        int minor = Integer.parseInt(m.group(2));
        int version = major * 100 + minor;
        return new MachineCompat(version <= 800, version >= 1000, version >= 900, version < 901, version <= 702);
    }
}
