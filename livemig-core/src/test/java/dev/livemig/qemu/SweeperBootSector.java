package dev.livemig.qemu;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A 512-byte x86 boot sector that dirties guest memory as fast as the CPU can: it enters 32-bit protected
 * mode with flat segments and increments the first byte of every 4 KiB page from 1 MiB up to an end address,
 * round after round, forever — the guest of QEMU's own migration test, written here from scratch. The end
 * address is a little-endian dword at offset {@value #END_OFFSET}, below 4 GiB (on a pc machine with more than
 * 3.5 GiB of RAM only 3 GiB are below 4 GiB).
 *
 * <p>Assembled with GNU as (`as --32`, `ld -Ttext 0x7c00 --oformat binary`) from:
 * <pre>
 * .code16
 *   cli; xor %ax,%ax; mov %ax,%ds
 *   in $0x92,%al; or $2,%al; out %al,$0x92        # fast A20
 *   lgdt gdtdesc
 *   mov %cr0,%eax; or $1,%eax; mov %eax,%cr0
 *   ljmpl $0x08,$pm
 * .code32
 * pm: mov $0x10,%ax; mov %ax,%ds; mov %ax,%es; mov %ax,%ss
 *   mov 0x7dfa,%ebx                               # end address
 * outer: mov $0x100000,%eax
 * inner: incb (%eax); add $0x1000,%eax; cmp %ebx,%eax; jb inner
 *   jmp outer
 * gdt: null; code 0x00cf9a000000ffff; data 0x00cf92000000ffff
 * gdtdesc: .word 23; .long gdt
 * </pre>
 */
public final class SweeperBootSector {
    /** Where the end address sits in the sector. */
    public static final int END_OFFSET = 0x1fa;
    /** The first page the sweep writes. */
    public static final long START = 0x100000;

    private static final int[] CODE = {
            0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0xe4, 0x92, 0x0c, 0x02, 0xe6, 0x92, 0x0f, 0x01, 0x16, 0x60, 0x7c,
            0x0f, 0x20, 0xc0, 0x66, 0x83, 0xc8, 0x01, 0x0f, 0x22, 0xc0, 0x66, 0xea, 0x22, 0x7c, 0x00, 0x00,
            0x08, 0x00, 0x66, 0xb8, 0x10, 0x00, 0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xd0, 0x8b, 0x1d, 0xfa, 0x7d,
            0x00, 0x00, 0xb8, 0x00, 0x00, 0x10, 0x00, 0xfe, 0x00, 0x05, 0x00, 0x10, 0x00, 0x00, 0x39, 0xd8,
            0x72, 0xf5, 0xeb, 0xee, 0x8d, 0x74, 0x26, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0xff, 0xff, 0x00, 0x00, 0x00, 0x9a, 0xcf, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x92, 0xcf, 0x00,
            0x17, 0x00, 0x48, 0x7c, 0x00, 0x00,
    };

    private SweeperBootSector() {
    }

    /** The sector for a sweep of [1 MiB, {@code end}); {@code end} page-aligned, above 1 MiB, below 4 GiB. */
    public static byte[] sweepingUpTo(long end) {
        if (end <= START || end >= 1L << 32 || end % 4096 != 0) {
            throw new IllegalArgumentException("end address must be page-aligned, above 1 MiB and below 4 GiB: 0x" + Long.toHexString(end));
        }
        ByteBuffer sector = ByteBuffer.allocate(512).order(ByteOrder.LITTLE_ENDIAN);
        for (int b : CODE) {
            sector.put((byte) b);
        }
        sector.putInt(END_OFFSET, (int) end);
        sector.put(510, (byte) 0x55).put(511, (byte) 0xaa);
        return sector.array();
    }

    /** The end of the sweep in a pc guest of {@code ramBytes}: all its RAM below 4 GiB. */
    public static long endFor(long ramBytes) {
        return ramBytes > 0xe0000000L ? 0xc0000000L : ramBytes;
    }
}
