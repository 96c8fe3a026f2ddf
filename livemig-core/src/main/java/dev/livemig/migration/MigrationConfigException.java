package dev.livemig.migration;

import dev.livemig.wire.MigrationException;

/**
 * A migration configuration that cannot be used, refused before anything is sent: an unknown capability or
 * parameter, a value out of QEMU's range, a combination QEMU forbids, something livemig has not built. The
 * message is QEMU's text where QEMU refuses the same. A {@link MigrationException} without section or offset,
 * so that code handling any migration failure handles this one too.
 */
public final class MigrationConfigException extends MigrationException {
    /** A refusal worded by {@code message} (QEMU's text where QEMU has one). */
    public MigrationConfigException(String message) {
        super(message);
    }
}
