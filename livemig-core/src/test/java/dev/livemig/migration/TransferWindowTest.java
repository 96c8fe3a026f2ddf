package dev.livemig.migration;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class TransferWindowTest {
    @Test
    void theSwitchoverThresholdIsMeasuredBandwidthTimesDowntimeUnlessAvailSwitchoverBandwidthIsSet() {
        var w = new TransferWindow(0, 300, 0L);
        assertEquals(0, w.threshold(), "nothing measured yet");
        w.account(10_000_000, 2441); // 10 MB in the first 100 ms window: 100 000 bytes per ms
        assertTrue(w.roll(TransferWindow.WINDOW_NS));
        assertEquals(30_000_000, w.threshold(), "100 000 bytes/ms for 300 ms");

        w.retune(0, 300, 1_000_000_000L); // avail-switchover-bandwidth: 1 GB/s
        assertEquals(300_000_000, w.threshold(), "what the operator says the switchover may use, for 300 ms");
        w.retune(0, 300, 0);
        assertEquals(30_000_000, w.threshold(), "0 goes back to the measured bandwidth");
    }
}
