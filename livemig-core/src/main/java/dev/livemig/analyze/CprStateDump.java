package dev.livemig.analyze;

import dev.livemig.cpr.CprState;
import dev.livemig.cpr.CprStateReader;
import dev.livemig.json.Json;
import dev.livemig.wire.MigrationException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code livemig analyze} of a CPR state (§16.2), captured from a cpr channel or a cpr-exec memfd: its magic and
 * version, and each named descriptor it hands over. The descriptors themselves travel beside the bytes (SCM_RIGHTS)
 * and are not in a capture: each fd field is the byte QEMU sends with one.
 */
public final class CprStateDump {
    private CprStateDump() {
    }

    /** Whether {@code file} begins with the CPR state's magic {@code QCPR} (false when it cannot be read at all). */
    public static boolean isCprState(Path file) {
        try (var in = Files.newInputStream(file)) {
            byte[] magic = in.readNBytes(4);
            return magic.length == 4 && java.nio.ByteBuffer.wrap(magic).getInt() == CprState.MAGIC;
        } catch (IOException e) {
            return false; // the stream's own reading says what is wrong with the file
        }
    }

    /** The state as JSON: {"magic", "version", "fds": [{"name", "id", "fd field offset"}]}. */
    public static Json.Obj dump(Path file) throws IOException, MigrationException {
        if (Files.size(file) > CprStateReader.MAX_BYTES) {
            throw new MigrationException("a CPR state holds at most " + CprStateReader.MAX_BYTES + " bytes; " + file
                    + " has " + Files.size(file));
        }
        var fds = new java.util.ArrayList<Json>();
        for (CprStateReader.Field f : CprStateReader.fields(Files.readAllBytes(file))) {
            fds.add(Json.object().put("name", f.name()).put("id", f.id())
                    .put("fd field offset", String.format("0x%x", f.fdAt())).build());
        }
        return Json.object().put("magic", "QCPR").put("version", CprState.VERSION).put("fds", new Json.Arr(fds)).build();
    }
}
