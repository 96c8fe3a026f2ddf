package dev.livemig.migration;

import jdk.jfr.Category;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.Timespan;

/** JFR: a destination's load, from the source's connection to the end (completed or not), and the guest's start. */
@Name("dev.livemig.IncomingLoad")
@Label("Incoming load")
@Category({"livemig", "Migration"})
final class IncomingLoadEvent extends jdk.jfr.Event {
    @Label("Status")
    String status;

    @Label("Start")
    @jdk.jfr.Description("Resuming the loaded guest (zero when it stays paused)")
    @Timespan(Timespan.NANOSECONDS)
    long start;

    @Label("Error")
    String error;
}
