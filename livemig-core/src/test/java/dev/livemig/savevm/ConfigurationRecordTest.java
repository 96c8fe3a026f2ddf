package dev.livemig.savevm;

import dev.livemig.wire.MigrationException;
import dev.livemig.wire.StreamReader;
import dev.livemig.wire.StreamWriter;
import org.junit.jupiter.api.Test;

import java.util.HexFormat;
import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.*;

/** The configuration record's uuid subsection (capability validate-uuid), as QEMU writes and checks it. */
class ConfigurationRecordTest {
    private static final UUID A = UUID.fromString("8f3a1c52-0d41-4c6e-9b1e-2a7d5f0c9e11");
    private static final UUID B = UUID.fromString("00000000-1111-2222-3333-444444444444");

    private static byte[] written(UUID uuid) throws MigrationException {
        var w = StreamWriter.inMemory();
        ConfigurationRecord.write(w, "pc-i440fx-10.0", List.of(), uuid);
        return w.toByteArray();
    }

    @Test
    void theUuidTravelsInQemusSubsectionBigEndianAsPrinted() throws Exception {
        String hex = HexFormat.of().formatHex(written(A));
        String name = HexFormat.of().formatHex("pc-i440fx-10.0".getBytes());
        String sub = HexFormat.of().formatHex("configuration/uuid".getBytes());
        assertEquals("07" + "0000000e" + name + "05" + "12" + sub + "00000001" + "8f3a1c520d414c6e9b1e2a7d5f0c9e11", hex);
        assertEquals(HexFormat.of().formatHex(written(null)), "07" + "0000000e" + name, "no UUID: no subsection");
    }

    @Test
    void aDestinationWithTheSameUuidOrNoneTakesItAndOneWithAnotherRefusesWithQemusText() throws Exception {
        assertEquals("pc-i440fx-10.0", ConfigurationRecord.read(StreamReader.of(written(A)), "pc-i440fx-10.0", List.of(), A).machineType());
        assertEquals("pc-i440fx-10.0", ConfigurationRecord.read(StreamReader.of(written(A)), "pc-i440fx-10.0", List.of(), null).machineType(),
                "QEMU only warns when it has no UUID of its own");
        var e = assertThrows(MigrationException.class,
                () -> ConfigurationRecord.read(StreamReader.of(written(A)), "pc-i440fx-10.0", List.of(), B));
        assertTrue(e.getMessage().startsWith("UUID received is " + A + " and local is " + B), e.getMessage());
        assertEquals(19, e.offset(), "at the subsection");
        assertEquals("pc-i440fx-10.0", ConfigurationRecord.readAny(StreamReader.of(written(A))));
    }

    @Test
    void mappedRamIsTakenFromTheStreamAndAnUnknownCapabilityIsRefusedByName() throws Exception {
        var w = StreamWriter.inMemory();
        ConfigurationRecord.write(w, "pc-i440fx-10.0", List.of("mapped-ram"));
        var received = ConfigurationRecord.read(StreamReader.of(w.toByteArray()), "pc-i440fx-10.0", List.of(), null);
        assertEquals(List.of("mapped-ram"), received.capabilities(), "a layout the destination follows, not a setting to match");
        var bad = StreamWriter.inMemory();
        ConfigurationRecord.write(bad, "pc-i440fx-10.0", List.of("warp-drive"));
        var e = assertThrows(MigrationException.class,
                () -> ConfigurationRecord.read(StreamReader.of(bad.toByteArray()), "pc-i440fx-10.0", List.of(), null));
        assertTrue(e.getMessage().startsWith("unknown capability in configuration: name=warp-drive"), e.getMessage());
    }
}
