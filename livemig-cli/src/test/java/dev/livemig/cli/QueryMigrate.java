package dev.livemig.cli;

import dev.livemig.json.Json;
import dev.livemig.migration.Migration;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.qmp.QmpClient;
import dev.livemig.testing.Await;

import java.time.Duration;
import java.util.Set;

/**
 * Reading query-migrate replies in tests, and waiting (through {@link Await}) for the status a test needs,
 * failing at once when the migration ended in another one.
 */
public final class QueryMigrate {
    /**
     * How long a test waits for something that takes milliseconds to a few seconds even on a loaded two-core
     * machine; reached only when it is not coming at all, and well within the test timeout (see pom.xml).
     */
    public static final Duration WAIT = Duration.ofSeconds(60);
    private static final Set<String> FINAL = Set.of("completed", "failed", "cancelled");

    private QueryMigrate() {
    }

    /** query-migrate's status; "none" for the empty reply of a server that has not migrated. */
    public static String status(Json.Obj queryMigrate) {
        return queryMigrate.get("status").map(Json::asString).orElse("none");
    }

    /** Whether query-migrate says the migration has ended: completed, failed or cancelled. */
    public static boolean ended(Json.Obj queryMigrate) {
        return FINAL.contains(status(queryMigrate));
    }

    /** query-migrate's ram.transferred; 0 before it reports figures. */
    public static long transferred(Json.Obj queryMigrate) {
        return queryMigrate.get("ram").map(r -> r.asObject().number("transferred")).orElse(0L);
    }

    /**
     * Until the query-migrate reply {@code queryMigrate} reads says {@code wanted}; fails at once when the
     * migration ends in another status. Returns that reply.
     */
    public static Json.Obj migrationStatus(String wanted, Await.Probe<Json.Obj> queryMigrate) throws Exception {
        return Await.value("migration status " + wanted, queryMigrate, q -> status(q).equals(wanted), QueryMigrate::ended, WAIT);
    }

    /** {@link #migrationStatus(String, Await.Probe)} of a migration in this JVM. */
    public static Json.Obj migrationStatus(Migration m, MigrationStatus wanted) throws Exception {
        return migrationStatus(wanted.qemuName(), () -> m.info().toJson());
    }

    /** {@link #migrationStatus(String, Await.Probe)} of the migration a QMP server runs. */
    public static Json.Obj migrationStatus(QmpClient c, String wanted) throws Exception {
        return migrationStatus(wanted, () -> c.execute("query-migrate").asObject());
    }
}
