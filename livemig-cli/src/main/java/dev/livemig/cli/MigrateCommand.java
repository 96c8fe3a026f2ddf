package dev.livemig.cli;

import dev.livemig.json.Json;
import dev.livemig.json.JsonWriter;
import dev.livemig.migration.MigrationInfo;
import dev.livemig.migration.MigrationStatus;
import dev.livemig.qmp.QmpClient;
import dev.livemig.qmp.QueryMigrateReply;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * Starts an outgoing migration on a QMP server and follows it to its end, as a management tool would: enables
 * the capabilities (always {@code events}, so MIGRATION events wake the follower), sets the parameters, sends
 * {@code migrate}, then redraws the progress line on every MIGRATION event and every 100 ms from query-migrate.
 * Interrupting the command (Ctrl-C, SIGTERM) while it follows sends {@code migrate_cancel} first, so that no
 * migration is left running without anyone watching it.
 */
@Command(name = "migrate", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Start an outgoing migration on a QMP server (livemig's or QEMU's) and follow it to its end.",
                "A migration held in pre-switchover (capability pause-before-switchover) is continued, as the demo does."},
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {"0:the migration completed (with --detach: it started)", "1:it failed or was cancelled",
                "2:bad arguments, no QMP connection, or a QMP command refused"})
final class MigrateCommand implements Callable<Integer> {
    private static final Duration POLL = Duration.ofMillis(100);
    private static final Duration CANCEL_TIMEOUT = Duration.ofSeconds(2);

    @Spec
    CommandSpec spec;

    @Mixin
    QmpOptions qmp;

    @Parameters(index = "0", paramLabel = "URI", description = "Where the state goes: tcp:HOST:PORT, unix:PATH, exec:COMMAND or file:PATH.")
    String uri;

    @Option(names = "--capability", paramLabel = "NAME",
            description = "Enable a capability before migrating (repeatable); events is always enabled.")
    List<String> capabilities = new ArrayList<>();

    @Option(names = "--parameter", paramLabel = "NAME=VALUE",
            description = "Set a parameter before migrating (repeatable), e.g. max-bandwidth=1G, downtime-limit=500.")
    Map<String, String> parameters = new LinkedHashMap<>();

    @Option(names = "--json", description = "Print one JSON object {\"query-migrate\": ...} instead of progress and summary.")
    boolean json;

    @Option(names = "--resume", description = "Resume a postcopy paused by a cut link (migrate with resume: true) towards"
            + " URI, where the destination listens again; capabilities and parameters stay as they are.")
    boolean resume;

    @Option(names = "--detach", description = "Return as soon as migrate is accepted; follow it with `livemig status`.")
    boolean detach;

    private volatile boolean following;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        try (QmpClient client = qmp.connect()) {
            if (!resume) { // a paused migration keeps its own (QEMU refuses changes while one runs)
                client.execute("migrate-set-capabilities", capabilityArguments());
                if (!parameters.isEmpty()) {
                    client.execute("migrate-set-parameters", ParameterArguments.of(parameters));
                }
            }
            Json.Obj migrate = resume ? Json.object().put("uri", uri).put("resume", true).build()
                    : Json.object().put("uri", uri).build();
            if (detach) {
                client.execute("migrate", migrate);
                print(out, query(client), "migration to " + uri + " started\n");
                return 0;
            }
            Thread cancelOnExit = Thread.ofPlatform().name("livemig-cancel-on-exit").unstarted(() -> cancel(client));
            Runtime.getRuntime().addShutdownHook(cancelOnExit);
            try {
                following = true;
                client.execute("migrate", migrate);
                Json.Obj last = follow(client, out);
                following = false;
                MigrationInfo info = QueryMigrateReply.parse(last);
                print(out, last, ProgressLine.summary(info));
                return info.status() == MigrationStatus.COMPLETED ? 0 : 1;
            } finally {
                removeHook(cancelOnExit);
            }
        }
    }

    private Json.Obj capabilityArguments() {
        var names = new LinkedHashSet<String>();
        names.add("events");
        names.addAll(capabilities);
        var list = new ArrayList<Json>();
        for (String name : names) {
            list.add(Json.object().put("capability", name).put("state", true).build());
        }
        return Json.object().put("capabilities", new Json.Arr(list)).build();
    }

    /** Redraws progress until the migration ends; returns the last query-migrate reply. */
    private Json.Obj follow(QmpClient client, PrintWriter out) throws IOException {
        boolean continued = false;
        Json.Obj reply = query(client);
        MigrationInfo info = QueryMigrateReply.parse(reply);
        while (!info.status().isFinal()) {
            if (!json) {
                out.print("\r" + ProgressLine.render(info) + "   ");
                out.flush();
            }
            if (info.status() == MigrationStatus.PRE_SWITCHOVER && !continued) {
                if (!json) {
                    out.printf("%npre-switchover: the guest is stopped, its final state not yet sent; continuing (migrate-continue)%n");
                }
                client.execute("migrate-continue", Json.object().put("state", "pre-switchover").build());
                continued = true;
            }
            try {
                client.awaitEvent("MIGRATION", POLL);
            } catch (SocketTimeoutException noChange) {
                // nothing announced within the poll interval: the figures are redrawn anyway
            }
            reply = query(client);
            info = QueryMigrateReply.parse(reply);
        }
        if (!json) {
            out.println();
        }
        return reply;
    }

    private static Json.Obj query(QmpClient client) throws IOException {
        return client.execute("query-migrate").asObject();
    }

    private void print(PrintWriter out, Json.Obj reply, String text) {
        out.print(json ? JsonWriter.compact(Json.object().put("query-migrate", reply).build()) + "\n" : text);
        out.flush();
    }

    /** The shutdown hook: the JVM is going (Ctrl-C); a migration it was following must not outlive it unseen. */
    private void cancel(QmpClient client) {
        if (!following) {
            return;
        }
        PrintWriter err = spec.commandLine().getErr();
        try {
            client.execute("migrate_cancel", null, CANCEL_TIMEOUT);
            err.println();
            err.println("livemig: interrupted; migrate_cancel sent to " + qmp.address);
        } catch (IOException e) {
            err.println();
            err.println("livemig: interrupted; migrate_cancel failed: " + e.getMessage());
        }
        err.flush();
    }

    private static void removeHook(Thread hook) {
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // the JVM is already exiting and the hook runs (or ran); nothing to remove
        }
    }
}
