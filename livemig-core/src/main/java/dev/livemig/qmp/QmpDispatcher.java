package dev.livemig.qmp;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParseException;
import dev.livemig.json.JsonParser;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns one received QMP message into its response, as QEMU's qmp_dispatch and monitor do: the message must
 * be an object with a string {@code execute}, an optional object {@code arguments} and an optional
 * {@code id} (echoed back as it came); the command must exist; arguments are checked by the command; until
 * {@code qmp_capabilities} succeeds every command is refused as CommandNotFound. Holds no per-client state:
 * the session passes whether it has negotiated and learns from the {@link Reply} whether it now has.
 */
public final class QmpDispatcher {
    /** The command that ends capability negotiation; every table must have it. */
    public static final String CAPABILITIES = "qmp_capabilities";

    private final Map<String, QmpCommand> commands = new LinkedHashMap<>();

    /**
     * A dispatcher of these commands, listed in this order.
     *
     * @throws IllegalArgumentException if a name is listed twice, or {@value #CAPABILITIES} is missing
     */
    public QmpDispatcher(List<QmpCommand> table) {
        for (QmpCommand c : table) {
            if (commands.putIfAbsent(c.name(), c) != null) {
                throw new IllegalArgumentException("command listed twice: " + c.name());
            }
        }
        if (!commands.containsKey(CAPABILITIES)) {
            throw new IllegalArgumentException("a QMP command table needs " + CAPABILITIES);
        }
    }

    /** Names of every command, in table order (query-commands). */
    public List<String> names() {
        return List.copyOf(commands.keySet());
    }

    /** The response and whether the session has negotiated capabilities after this message. */
    public record Reply(Json.Obj response, boolean negotiated) {
    }

    /** Parses (QEMU's QMP JSON, from its UTF-8 bytes) and runs one message; never throws for anything the client sent. */
    public Reply dispatch(byte[] text, boolean negotiated) {
        Json message;
        try {
            message = JsonParser.parse(text, JsonParser.Syntax.QMP);
        } catch (JsonParseException e) {
            return new Reply(error(null, QmpException.generic(e.desc())), negotiated);
        }
        if (!(message instanceof Json.Obj request)) {
            return new Reply(error(null, QmpException.generic("QMP input must be a JSON object")), negotiated);
        }
        Json id = request.get("id").orElse(null);
        try {
            QmpCommand command = check(request, negotiated);
            boolean isCapabilities = command.name().equals(CAPABILITIES);
            if (!negotiated && !isCapabilities) {
                throw new QmpException(QmpException.COMMAND_NOT_FOUND,
                        "Expecting capabilities negotiation with '" + CAPABILITIES + "'");
            }
            if (negotiated && isCapabilities) {
                throw new QmpException(QmpException.COMMAND_NOT_FOUND,
                        "Capabilities negotiation is already complete, command ignored");
            }
            Json.Obj arguments = request.get("arguments").map(Json::asObject).orElse(Json.object().build());
            command.checkArguments(arguments);
            Json result = command.handler().handle(arguments);
            return new Reply(withId(Json.object().put("return", result), id), negotiated || isCapabilities);
        } catch (QmpException e) {
            return new Reply(error(id, e), negotiated);
        } catch (RuntimeException e) {
            // a handler bug must not end the session; QEMU would abort, a livemig client gets the reason
            return new Reply(error(id, QmpException.generic("internal error: " + e)), negotiated);
        }
    }

    /** The checks of QEMU's qmp_dispatch_check_obj and the command lookup, with QEMU's texts. */
    private QmpCommand check(Json.Obj request, boolean negotiated) throws QmpException {
        for (Json.Member m : request.members()) {
            switch (m.name()) {
                case "execute" -> {
                    if (!(m.value() instanceof Json.Str)) {
                        throw QmpException.generic("QMP input member 'execute' must be a string");
                    }
                }
                case "arguments" -> {
                    if (!(m.value() instanceof Json.Obj)) {
                        throw QmpException.generic("QMP input member 'arguments' must be an object");
                    }
                }
                case "id" -> {
                    // any JSON value; echoed unchanged
                }
                default -> throw QmpException.generic("QMP input member '" + m.name() + "' is unexpected");
            }
        }
        String name = request.get("execute").map(Json::asString)
                .orElseThrow(() -> QmpException.generic("QMP input lacks member 'execute'"));
        QmpCommand command = commands.get(name);
        if (command == null) {
            // before negotiation QEMU answers every unknown command with the negotiation text too
            throw new QmpException(QmpException.COMMAND_NOT_FOUND, negotiated
                    ? "The command " + name + " has not been found"
                    : "Expecting capabilities negotiation with '" + CAPABILITIES + "'");
        }
        return command;
    }

    /** An error response; a message that could not be read as an object has no id to echo. */
    public static Json.Obj error(Json id, QmpException e) {
        Json.Obj err = Json.object().put("class", e.errorClass()).put("desc", e.desc()).build();
        return withId(Json.object().put("error", err), id);
    }

    private static Json.Obj withId(Json.ObjBuilder b, Json id) {
        if (id != null) {
            b.put("id", id);
        }
        return b.build();
    }
}
