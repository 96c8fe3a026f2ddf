package dev.livemig.cli;

import dev.livemig.json.Json;
import dev.livemig.migration.Migration;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.qmp.QmpClient;

import java.time.Duration;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Waiting in tests for what a test needs to have happened (a migration reached a status, a guest moved on),
 * with a deadline, instead of sleeping for a time that is enough on an idle machine. A failure says what
 * was awaited, how long, and what was seen last.
 */
public final class Await {
    /**
     * How long a test waits for something that takes milliseconds to a few seconds even on a loaded two-core
     * machine; reached only when it is not coming at all, and well within the test timeout (see pom.xml).
     */
    public static final Duration WAIT = Duration.ofSeconds(60);
    private static final Set<String> FINAL = Set.of("completed", "failed", "cancelled");

    /** Reads the state a test waits on; may throw, which ends the wait. */
    @FunctionalInterface
    public interface Probe<T> {
        T get() throws Exception;
    }

    private Await() {
    }

    /** {@link #until(String, Duration, Probe, Predicate, Predicate)} within {@link #WAIT}, never hopeless. */
    public static <T> T until(String what, Probe<T> probe, Predicate<? super T> done) throws Exception {
        return until(what, WAIT, probe, done, seen -> false);
    }

    /**
     * Reads {@code probe} until {@code done} accepts what it returned, and returns that. Fails at once when
     * {@code hopeless} accepts it (what is awaited can no longer come), and when {@code timeout} has passed.
     */
    public static <T> T until(String what, Duration timeout, Probe<T> probe, Predicate<? super T> done,
                              Predicate<? super T> hopeless) throws Exception {
        long start = System.nanoTime();
        long pauseMs = 1;
        while (true) {
            T seen = probe.get();
            if (done.test(seen)) {
                return seen;
            }
            if (hopeless.test(seen)) {
                throw new AssertionError("waiting for " + what + ", which can no longer come; seen: " + seen);
            }
            if (System.nanoTime() - start > timeout.toNanos()) {
                throw new AssertionError("waited " + timeout.toSeconds() + " s for " + what + "; last seen: " + seen);
            }
            Thread.sleep(pauseMs);
            pauseMs = Math.min(2 * pauseMs, 20);
        }
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
    public static Json.Obj migrationStatus(String wanted, Probe<Json.Obj> queryMigrate) throws Exception {
        return until("migration status " + wanted, WAIT, queryMigrate, q -> status(q).equals(wanted), Await::ended);
    }

    /** {@link #migrationStatus(String, Probe)} of a migration in this JVM. */
    public static Json.Obj migrationStatus(Migration m, MigrationStatus wanted) throws Exception {
        return migrationStatus(wanted.qemuName(), () -> m.info().toJson());
    }

    /** {@link #migrationStatus(String, Probe)} of the migration a QMP server runs. */
    public static Json.Obj migrationStatus(QmpClient c, String wanted) throws Exception {
        return migrationStatus(wanted, () -> c.execute("query-migrate").asObject());
    }
}
