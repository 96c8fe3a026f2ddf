package dev.livemig.migration;

import jdk.jfr.Category;
import jdk.jfr.Label;
import jdk.jfr.Name;

/** JFR: an outgoing migration's setup, from migrate to the status active (connections, header, first dirty sync). */
@Name("dev.livemig.MigrationSetup")
@Label("Migration setup")
@Category({"livemig", "Migration"})
final class MigrationSetupEvent extends jdk.jfr.Event {
    @Label("Target")
    String target;

    @Label("Capabilities")
    String capabilities;
}
