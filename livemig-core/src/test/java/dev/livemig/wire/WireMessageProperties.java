package dev.livemig.wire;

import dev.livemig.wire.format.MigrationCommand;
import dev.livemig.wire.format.MigrationCommands;
import dev.livemig.wire.format.ReturnPathCodec;
import dev.livemig.wire.format.ReturnPathMessage;
import dev.livemig.wire.format.StreamFraming;
import dev.livemig.wire.format.StreamRecord;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Hostile input never escapes as anything but {@link MigrationException}; whatever a reader accepts, the
 * writer gives back byte for byte (so accepted and written forms cannot drift apart).
 */
class WireMessageProperties {

    @Property(tries = 2000)
    void randomReturnPathBytesOnlyEverThrowMigrationException(@ForAll @Size(max = 600) byte[] bytes) throws Exception {
        for (StreamReader r : List.of(StreamReader.of(bytes), new StreamReader(ChunkedChannel.oneByteAtATime(bytes), 512))) {
            var accepted = new ArrayList<ReturnPathMessage>();
            long end = 0;
            try {
                while (!r.atEnd()) {
                    accepted.add(ReturnPathCodec.read(r));
                    end = r.offset();
                }
            } catch (MigrationException expected) {
                // rejection is the normal outcome for noise
            }
            var w = StreamWriter.inMemory();
            for (ReturnPathMessage m : accepted) {
                ReturnPathCodec.write(w, m);
            }
            assertEquals(java.util.HexFormat.of().formatHex(bytes, 0, (int) end), java.util.HexFormat.of().formatHex(w.toByteArray()));
        }
    }

    /** Random type and length fields over a payload that mostly looks plausible: exercises the deep checks. */
    @Property(tries = 2000)
    void returnPathHeadersOverRandomPayloads(@ForAll @IntRange(min = 0, max = 9) int type, @ForAll @IntRange(max = 40) int len,
            @ForAll @Size(max = 40) byte[] payload) {
        var bytes = java.nio.ByteBuffer.allocate(4 + payload.length).putShort((short) type).putShort((short) len).put(payload).array();
        try {
            ReturnPathCodec.read(StreamReader.of(bytes));
        } catch (MigrationException expected) {
            // only this type may escape
        }
    }

    @Property(tries = 3000)
    void randomCommandPayloadsOnlyEverThrowMigrationException(@ForAll @IntRange(min = 0, max = 13) int command,
            @ForAll @Size(max = 300) byte[] payload, @ForAll boolean acceptSwitchoverStart) throws Exception {
        var w = StreamWriter.inMemory();
        StreamFraming.writeCommand(w, command, payload);
        byte[] bytes = w.toByteArray();
        var r = StreamReader.of(bytes);
        MigrationCommand c;
        try {
            c = MigrationCommands.decode((StreamRecord.Command) StreamFraming.readRecord(r), r, acceptSwitchoverStart);
        } catch (MigrationException expected) {
            return;
        }
        if (c instanceof MigrationCommand.PostcopyRamDiscard d && d.ranges().isEmpty()) {
            return; // 7.2 reads a range-less DISCARD; nobody writes one
        }
        var again = StreamWriter.inMemory();
        MigrationCommands.write(again, c);
        assertEquals(java.util.HexFormat.of().formatHex(bytes), java.util.HexFormat.of().formatHex(again.toByteArray()));
    }

    /** DISCARD payloads built around a plausible header, so the random part hits the layout checks. */
    @Property(tries = 2000)
    void discardLikePayloadsOnlyEverThrowMigrationException(@ForAll @IntRange(max = 2) int version,
            @ForAll @IntRange(max = 40) int nameLength, @ForAll @Size(max = 80) byte[] rest) {
        var payload = java.nio.ByteBuffer.allocate(2 + rest.length).put((byte) version).put((byte) nameLength).put(rest).array();
        var w = StreamWriter.inMemory();
        try {
            StreamFraming.writeCommand(w, MigrationCommands.POSTCOPY_RAM_DISCARD, payload);
            var r = StreamReader.of(w.toByteArray());
            MigrationCommands.decode((StreamRecord.Command) StreamFraming.readRecord(r), r);
        } catch (MigrationException expected) {
            // only this type may escape
        }
    }
}
