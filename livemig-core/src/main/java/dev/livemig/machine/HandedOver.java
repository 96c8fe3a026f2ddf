package dev.livemig.machine;

import dev.livemig.linux.PassableDescriptor;

/**
 * A descriptor that cpr-transfer hands to the new process under {@code name} and {@code id} (an entry of QEMU's CPR
 * state): a RAM block's memory under the block's name, or one of the application's sockets under a name it chose.
 */
public record HandedOver(String name, int id, PassableDescriptor descriptor) {
    /** The longest name a CPR state carries (with its NUL: 4096 bytes). */
    public static final int MAX_NAME_BYTES = 4095;

    public HandedOver {
        int bytes = name.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        if (bytes == 0 || bytes > MAX_NAME_BYTES) {
            throw new IllegalArgumentException("a handed-over descriptor's name has 1.." + MAX_NAME_BYTES + " bytes: " + name);
        }
    }
}
