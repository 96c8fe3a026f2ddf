package dev.livemig.qemu;

import dev.livemig.machine.Machine;

/** livemig machines shaped like the harness's QEMU guests (-m 32M, -nodefaults; docs/qemu-7.2-notes.md §1). */
public final class QemuMachines {
    private QemuMachines() {
    }

    /** The machine type QEMU 7.2 writes in the configuration record for "pc" and "q35". */
    public static String machineType(String machine) {
        return QemuVersion.V7_2.machineType(machine);
    }

    /** QEMU 7.2's RAM block list for -m 32M pc or q35. */
    public static Machine shaped(String machine) {
        return shaped(QemuVersion.V7_2, machine);
    }

    /** The RAM block list of {@code qemu}'s -m 32M pc or q35 (the same in 7.2 and 10.0), under its machine type. */
    public static Machine shaped(QemuVersion qemu, String machine) {
        return shaped(qemu, machine, null);
    }

    /**
     * A pc shaped as {@link #shaped(QemuVersion, String)} whose pc.ram is the shared file {@code memory} (QEMU's
     * {@code -object memory-backend-file,id=pc.ram,share=on,mem-path=FILE -machine memory-backend=pc.ram}),
     * mapped in {@code arena}.
     */
    public static Machine sharedPcRam(QemuVersion qemu, java.lang.foreign.Arena arena, java.nio.file.Path memory)
            throws java.io.IOException {
        return roms(Machine.builder(qemu.machineType("pc"))
                .ram(dev.livemig.machine.RamBlock.mappedFile(arena, "pc.ram", memory, 0x2000000))).build();
    }

    /** QEMU's arguments that make its pc.ram the shared file {@code memory} ({@link #sharedPcRam}'s counterpart). */
    public static String[] sharedPcRamArgs(java.nio.file.Path memory) {
        return new String[] {"-object", "memory-backend-file,id=pc.ram,size=32M,share=on,mem-path=" + memory,
                "-machine", "memory-backend=pc.ram"};
    }

    /** As {@link #shaped(QemuVersion, String)}, with QEMU's {@code -uuid} (null: none). */
    public static Machine shaped(QemuVersion qemu, String machine, java.util.UUID uuid) {
        return roms(Machine.builder(qemu.machineType(machine)).uuid(uuid).ram("pc.ram", 0x2000000)).build();
    }

    /** QEMU's RAM blocks of a -m 32M pc or q35, in list order: name and used length. */
    public static final java.util.List<java.util.Map.Entry<String, Long>> BLOCKS = java.util.List.of(
            java.util.Map.entry("pc.ram", 0x2000000L), java.util.Map.entry("/rom@etc/acpi/tables", 0x20000L),
            java.util.Map.entry("pc.bios", 0x40000L), java.util.Map.entry("pc.rom", 0x20000L),
            java.util.Map.entry("/rom@etc/table-loader", 0x1000L), java.util.Map.entry("/rom@etc/acpi/rsdp", 0x1000L));

    /** The blocks after pc.ram in QEMU's list: ACPI tables, BIOS, option ROM, table loader, RSDP. */
    private static Machine.Builder roms(Machine.Builder machine) {
        for (var b : BLOCKS.subList(1, BLOCKS.size())) {
            machine.ram(b.getKey(), b.getValue());
        }
        return machine;
    }
}
