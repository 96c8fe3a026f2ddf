package dev.livemig.wire.format;

/**
 * One top-level record of the stream after the header and configuration (§3): what the destination's
 * dispatch loop switches on.
 */
public sealed interface StreamRecord {

    /** START or FULL: a section that names its handler. */
    record SectionStart(boolean full, int sectionId, String idstr, int instanceId, int versionId) implements StreamRecord {
    }

    /** PART or END: a section that continues a handler by the id its START carried. */
    record SectionContinue(boolean end, int sectionId) implements StreamRecord {
    }

    /** QEMU_VM_COMMAND with its raw payload (at most 65535 bytes by construction). */
    record Command(int command, byte[] data) implements StreamRecord {
    }

    /** QEMU_VM_EOF: the end of device state. */
    record Eof() implements StreamRecord {
    }
}
