package dev.livemig.migration;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.junit.jupiter.api.Assertions.*;

/** A listener that throws does not stop a migration's status, and its stack trace is not lost. */
class StatusMachineTest {
    @Test
    void aFailingListenerIsLoggedWithItsStackTraceAndTheStatusMovesOn() {
        var logged = new ArrayList<LogRecord>();
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord r) {
                logged.add(r);
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        Logger logger = Logger.getLogger(StatusMachine.class.getName()); // System.Logger's default backend
        logger.addHandler(capture);
        try {
            var bug = new IllegalStateException("listener bug");
            var machine = new StatusMachine(MigrationStatus.Side.SOURCE, e -> {
                throw bug;
            });
            machine.move(MigrationStatus.SETUP);
            assertEquals(MigrationStatus.SETUP, machine.status());
            assertEquals(List.of(bug), logged.stream().map(LogRecord::getThrown).toList());
            assertTrue(logged.getFirst().getMessage().contains("StatusChanged"), logged.getFirst().getMessage());
        } finally {
            logger.removeHandler(capture);
        }
    }
}
