package dev.livemig.cli;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** A destination process that stops answering is killed after the timeout, not waited for forever. */
class LivemigProcessIT {
    @Test
    void aDestinationSilentPastTheTimeoutIsKilledWithAnErrorThatSaysSo() throws Exception {
        try (var dest = LivemigProcess.start(List.of("tcp:127.0.0.1:0", "--ram", "1M"))) {
            assertTrue(dest.nextLine().string("listening").startsWith("tcp:127.0.0.1:"));
            // no source ever connects: the destination listens on and prints nothing more
            var e = assertThrows(IOException.class, () -> dest.nextLine(Duration.ofSeconds(1)));
            assertEquals("the destination process (pid " + dest.pid() + ") did not answer within 1 s; it was killed", e.getMessage());
            assertNotEquals(-1, dest.awaitExit(), "the process is gone");
            var after = assertThrows(IOException.class, dest::nextLine);
            assertTrue(after.getMessage().startsWith("the destination process ended without answering"), after.getMessage());
        }
    }
}
