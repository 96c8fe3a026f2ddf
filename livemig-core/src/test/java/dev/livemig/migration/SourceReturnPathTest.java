package dev.livemig.migration;

import dev.livemig.transport.IncomingListener;
import dev.livemig.transport.MigrationChannel;
import dev.livemig.transport.MigrationUri;
import dev.livemig.transport.Transports;
import dev.livemig.wire.format.ReturnPathCodec;
import dev.livemig.wire.format.ReturnPathMessage;
import dev.livemig.wire.StreamWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.ByteBuffer;

import static org.junit.jupiter.api.Assertions.*;

/** The source's reader of the return path, against a destination's end of a real socket. */
class SourceReturnPathTest {
    /** A connected pair: the source's channel (carrying the return path back) and the destination's. */
    private record Ends(MigrationChannel source, MigrationChannel destination, IncomingListener listener) implements AutoCloseable {
        static Ends open() throws Exception {
            IncomingListener l = Transports.listen(MigrationUri.parse("tcp:127.0.0.1:0"));
            MigrationChannel src = Transports.connect(l.address());
            src.write(ByteBuffer.allocate(8)); // the destination takes a connection once its first bytes came
            return new Ends(src, l.accept(), l);
        }

        @Override
        public void close() throws Exception {
            source.close();
            destination.close();
            listener.close();
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 0x7fff_ffff, 0x8000_0000, 0xff00_0000, -1})
    void aShutStatusIsReadAsQemusUnsignedValueNeverAsNoShutAtAll(int status) throws Exception {
        try (var ends = Ends.open()) {
            var rp = new SourceReturnPath(ends.source());
            rp.start();
            var out = new StreamWriter(ends.destination(), 4096);
            ReturnPathCodec.write(out, new ReturnPathMessage.Shut(status));
            out.flush();
            // a status with its top bit set once read as "no SHUT came", and the source said it waited in vain
            assertEquals(Integer.toUnsignedLong(status), rp.awaitShut(30_000));
            rp.join();
        }
    }

    @Test
    void aReturnPathThatEndsWithoutShutReportsNoneAndWhy() throws Exception {
        try (var ends = Ends.open()) {
            var rp = new SourceReturnPath(ends.source());
            rp.start();
            ends.destination().close();
            assertEquals(-1, rp.awaitShut(30_000));
            assertNotNull(rp.failure());
            assertTrue(rp.failure().startsWith("return path: "), rp.failure());
            rp.join();
        }
    }
}
