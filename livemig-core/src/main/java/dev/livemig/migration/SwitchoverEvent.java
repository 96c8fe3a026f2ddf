package dev.livemig.migration;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.Timespan;

/**
 * JFR: one switchover on the source, from the moment the guest is stopped to the end of the downtime, with
 * the downtime split into consecutive parts that add up to it exactly (each is the time between two
 * instants on one clock). Committed when the switchover completed.
 */
@Name("dev.livemig.Switchover")
@Label("Switchover")
@Category({"livemig", "Migration"})
@Description("The source's downtime and its parts")
final class SwitchoverEvent extends jdk.jfr.Event {
    @Label("Downtime")
    @Description("From stopping the guest to the destination's confirmation (or the stream's end without a return path); query-migrate's downtime")
    @Timespan(Timespan.NANOSECONDS)
    long downtime;

    @Label("Stop")
    @Description("Stopping the guest (finish-migrate)")
    @Timespan(Timespan.NANOSECONDS)
    long stop;

    @Label("Pre-switchover wait")
    @Description("Held in pre-switchover until migrate-continue (capability pause-before-switchover)")
    @Timespan(Timespan.NANOSECONDS)
    long preSwitchover;

    @Label("Final state")
    @Description("The last dirty pages and every device's state written (what does not fit the buffers is sent meanwhile)")
    @Timespan(Timespan.NANOSECONDS)
    long finalState;

    @Label("Transfer")
    @Description("The rest of the stream flushed and the channel's output closed")
    @Timespan(Timespan.NANOSECONDS)
    long transfer;

    @Label("Destination load")
    @Description("Waiting for the destination to confirm it loaded everything (return path's SHUT); without a return path there is nothing to wait for")
    @Timespan(Timespan.NANOSECONDS)
    long destinationLoad;

    @Label("Bytes after stop")
    long bytesAfterStop;
}
