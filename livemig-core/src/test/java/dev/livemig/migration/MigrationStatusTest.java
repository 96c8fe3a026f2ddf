package dev.livemig.migration;

import org.junit.jupiter.api.Test;

import static dev.livemig.migration.MigrationStatus.*;
import static org.junit.jupiter.api.Assertions.*;

class MigrationStatusTest {

    @Test
    void theSourcesPrecopyPathIsLegal() {
        MigrationStatus[] path = {NONE, SETUP, ACTIVE, PRE_SWITCHOVER, DEVICE, COMPLETED};
        for (int i = 1; i < path.length; i++) {
            int from = i - 1;
            assertDoesNotThrow(() -> checkMove(Side.SOURCE, path[from], path[from + 1]));
        }
        assertDoesNotThrow(() -> checkMove(Side.SOURCE, ACTIVE, CANCELLING));
        assertDoesNotThrow(() -> checkMove(Side.SOURCE, CANCELLING, CANCELLED));
    }

    @Test
    void illegalTransitionsFailLoudly() {
        var e = assertThrows(IllegalStateException.class, () -> checkMove(Side.SOURCE, SETUP, COMPLETED));
        assertEquals("illegal source migration transition: setup -> completed", e.getMessage());
        assertThrows(IllegalStateException.class, () -> checkMove(Side.SOURCE, COMPLETED, ACTIVE));
        assertThrows(IllegalStateException.class, () -> checkMove(Side.SOURCE, CANCELLED, CANCELLING));
        assertThrows(IllegalStateException.class, () -> checkMove(Side.DESTINATION, SETUP, PRE_SWITCHOVER));
    }

    @Test
    void activeEndsInCompletedAs72OrPassesThroughDeviceAs100() {
        assertDoesNotThrow(() -> checkMove(Side.SOURCE, ACTIVE, COMPLETED));
        assertDoesNotThrow(() -> checkMove(Side.SOURCE, ACTIVE, DEVICE));
        assertThrows(IllegalStateException.class, () -> checkMove(Side.SOURCE, DEVICE, ACTIVE));
    }

    @Test
    void aDestinationGoesToActiveWhenTheSourceConnectsFromNone72OrSetup100() {
        assertDoesNotThrow(() -> checkMove(Side.DESTINATION, NONE, ACTIVE));
        assertDoesNotThrow(() -> checkMove(Side.DESTINATION, NONE, SETUP));
        assertDoesNotThrow(() -> checkMove(Side.DESTINATION, SETUP, ACTIVE));
        assertDoesNotThrow(() -> checkMove(Side.DESTINATION, ACTIVE, COMPLETED));
        assertThrows(IllegalStateException.class, () -> checkMove(Side.DESTINATION, ACTIVE, SETUP));
    }

    @Test
    void namesAreQemus() {
        assertEquals("pre-switchover", PRE_SWITCHOVER.qemuName());
        assertEquals("postcopy-active", POSTCOPY_ACTIVE.qemuName());
        assertTrue(COMPLETED.isFinal() && FAILED.isFinal() && CANCELLED.isFinal());
        assertFalse(DEVICE.isFinal());
    }
}
