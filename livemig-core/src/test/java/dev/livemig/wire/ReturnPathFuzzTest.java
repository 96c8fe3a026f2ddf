package dev.livemig.wire;

import dev.livemig.wire.format.ReturnPathCodec;
import dev.livemig.wire.format.ReturnPathMessage;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.livemig.fuzz.SeedCorpus;
import dev.livemig.fuzz.UntrustedInput;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Return-path messages as the source reads them from its destination: every message read is written back
 * and must read back the same (the codec agrees with itself on whatever it accepts). Seed: one message of
 * every type.
 */
class ReturnPathFuzzTest {
    @FuzzTest(maxDuration = "5s")
    void readsReturnPathMessages(byte[] stream) {
        UntrustedInput.parse(MigrationException.class, () -> {
            var in = StreamReader.of(stream);
            while (!in.atEnd()) {
                ReturnPathMessage m = ReturnPathCodec.read(in);
                var out = StreamWriter.inMemory();
                ReturnPathCodec.write(out, m);
                assertEquals(m, ReturnPathCodec.read(StreamReader.of(out.toByteArray())), "written back and read again");
            }
        });
    }

    @Test
    void corpusHoldsTheSeeds() throws Exception {
        var out = StreamWriter.inMemory();
        for (ReturnPathMessage m : new ReturnPathMessage[] {new ReturnPathMessage.Shut(0), new ReturnPathMessage.Pong(7),
                new ReturnPathMessage.ReqPagesId(0x2000, 4096, "pc.ram"), new ReturnPathMessage.ReqPages(0x3000, 8192),
                new ReturnPathMessage.RecvBitmap("pc.ram"), new ReturnPathMessage.ResumeAck(ReturnPathMessage.ResumeAck.VALUE),
                new ReturnPathMessage.SwitchoverAck()}) {
            ReturnPathCodec.write(out, m);
        }
        SeedCorpus.check(ReturnPathFuzzTest.class, "readsReturnPathMessages", Map.of("every-type", out.toByteArray()));
    }
}
