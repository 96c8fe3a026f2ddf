package dev.livemig.migration;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Label;
import jdk.jfr.Name;

/** JFR: one dirty-bitmap sync of an outgoing migration (QEMU's MIGRATION_PASS), with what was left to send. */
@Name("dev.livemig.MigrationPass")
@Label("Migration pass")
@Category({"livemig", "Migration"})
final class MigrationPassEvent extends jdk.jfr.Event {
    @Label("Pass")
    long pass;

    @Label("Transferred")
    @DataAmount
    long transferred;

    @Label("Remaining")
    @DataAmount
    long remaining;
}
