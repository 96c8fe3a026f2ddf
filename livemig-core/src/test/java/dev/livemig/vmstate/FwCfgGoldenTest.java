package dev.livemig.vmstate;

import dev.livemig.json.JsonWriter;
import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** QEMU 7.2's fw_cfg (§4.8, §5.3): the exact bytes and the exact trailer JSON, both ways. */
class FwCfgGoldenTest {
    static final class FwCfg {
        long curEntry;
        long curOffset;
        long dmaAddr;
        boolean dmaEnabled;
        long tableMrSize;
        long linkerMrSize;
        long rsdpMrSize;
        boolean acpiMrRestore;
        int loadedVersion = -1;
    }

    static final VmStateDescription<FwCfg> DMA = VmStateDescription.<FwCfg>builder("fw_cfg/dma")
            .uint64("dma_addr", f -> f.dmaAddr, (f, v) -> f.dmaAddr = v)
            .build();

    static final VmStateDescription<FwCfg> ACPI_MR = VmStateDescription.<FwCfg>builder("fw_cfg/acpi_mr").version(1)
            .uint64("table_mr_size", f -> f.tableMrSize, (f, v) -> f.tableMrSize = v)
            .uint64("linker_mr_size", f -> f.linkerMrSize, (f, v) -> f.linkerMrSize = v)
            .uint64("rsdp_mr_size", f -> f.rsdpMrSize, (f, v) -> f.rsdpMrSize = v)
            .build();

    /** As hw/nvram/fw_cfg.c declares it, including the version-1 VMSTATE_UINT16_HACK of cur_offset. */
    static final VmStateDescription<FwCfg> FW_CFG = VmStateDescription.<FwCfg>builder("fw_cfg").version(2).minimumVersion(1)
            .uint16("cur_entry", f -> f.curEntry, (f, v) -> f.curEntry = v)
            .uint16("cur_offset", f -> f.curOffset, (f, v) -> f.curOffset = v).onlyIf((f, v) -> v == 1)
            .uint32("cur_offset", f -> f.curOffset, (f, v) -> f.curOffset = v).since(2)
            .subsection(DMA, f -> f.dmaEnabled)
            .subsection(ACPI_MR, f -> f.acpiMrRestore)
            .postLoad((f, v) -> f.loadedVersion = v)
            .build();

    static final byte[] GOLDEN = Hex.bytes("""
            0019 00000010
            05 0a "fw_cfg/dma" 00000000  0000000000001000
            05 0e "fw_cfg/acpi_mr" 00000001  0000000000020000 0000000000001000 0000000000001000
            """);

    static final String GOLDEN_JSON = "{\"vmsd_name\": \"fw_cfg\", \"version\": 2, \"fields\": ["
            + "{\"name\": \"cur_entry\", \"type\": \"uint16\", \"size\": 2}, "
            + "{\"name\": \"cur_offset[1]\", \"type\": \"uint32\", \"size\": 4}], "
            + "\"subsections\": [{\"vmsd_name\": \"fw_cfg/dma\", \"version\": 0, \"fields\": ["
            + "{\"name\": \"dma_addr\", \"type\": \"uint64\", \"size\": 8}]}, "
            + "{\"vmsd_name\": \"fw_cfg/acpi_mr\", \"version\": 1, \"fields\": ["
            + "{\"name\": \"table_mr_size\", \"type\": \"uint64\", \"size\": 8}, "
            + "{\"name\": \"linker_mr_size\", \"type\": \"uint64\", \"size\": 8}, "
            + "{\"name\": \"rsdp_mr_size\", \"type\": \"uint64\", \"size\": 8}]}]}";

    static FwCfg sample() {
        var f = new FwCfg();
        f.curEntry = 0x19;
        f.curOffset = 0x10;
        f.dmaEnabled = true;
        f.dmaAddr = 0x1000;
        f.acpiMrRestore = true;
        f.tableMrSize = 0x20000;
        f.linkerMrSize = 0x1000;
        f.rsdpMrSize = 0x1000;
        return f;
    }

    @Test
    void saveWritesTheGoldenBytesAndTheGoldenJson() throws MigrationException {
        var w = StreamWriter.inMemory();
        var json = VmStateCodec.save(w, FW_CFG, sample());
        assertArrayEquals(GOLDEN, w.toByteArray());
        assertEquals(GOLDEN_JSON, JsonWriter.compact(json));
    }

    @Test
    void loadOfTheGoldenBytesRestoresEveryValueAndConsumesExactlyThem() throws MigrationException {
        var r = StreamReader.of(GOLDEN);
        var f = new FwCfg();
        VmStateCodec.load(r, FW_CFG, f, 2);
        assertEquals(GOLDEN.length, r.offset());
        assertEquals(0x19, f.curEntry);
        assertEquals(0x10, f.curOffset);
        assertEquals(0x1000, f.dmaAddr);
        assertEquals(0x20000, f.tableMrSize);
        assertEquals(0x1000, f.linkerMrSize);
        assertEquals(0x1000, f.rsdpMrSize);
        assertEquals(2, f.loadedVersion);
    }

    @Test
    void versionOneStreamCarriesCurOffsetAsUint16() throws MigrationException {
        byte[] v1 = Hex.bytes("0019 0010");
        var f = new FwCfg();
        var r = StreamReader.of(v1);
        VmStateCodec.load(r, FW_CFG, f, 1);
        assertEquals(4, r.offset());
        assertEquals(0x10, f.curOffset);
        assertEquals(1, f.loadedVersion);
    }

    @Test
    void subsectionsThatAreNotNeededAreAbsentFromBytesAndJson() throws MigrationException {
        var f = sample();
        f.dmaEnabled = false;
        f.acpiMrRestore = false;
        var w = StreamWriter.inMemory();
        var json = VmStateCodec.save(w, FW_CFG, f);
        assertArrayEquals(Hex.bytes("0019 00000010"), w.toByteArray());
        assertTrue(JsonWriter.compact(json).endsWith("\"size\": 4}]}"));
        assertEquals(false, json.has("subsections"));
    }

    @Test
    void subsectionsAreAcceptedInAnyOrder() throws MigrationException {
        byte[] swapped = Hex.bytes("""
                0019 00000010
                05 0e "fw_cfg/acpi_mr" 00000001  0000000000020000 0000000000001000 0000000000001000
                05 0a "fw_cfg/dma" 00000000  0000000000001000
                """);
        var f = new FwCfg();
        VmStateCodec.load(StreamReader.of(swapped), FW_CFG, f, 2);
        assertEquals(0x1000, f.dmaAddr);
        assertEquals(0x20000, f.tableMrSize);
    }
}
