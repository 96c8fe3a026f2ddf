package dev.livemig.transport;

import dev.livemig.json.Json;
import dev.livemig.wire.MigrationException;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * QMP's {@code channels} argument of migrate (QEMU 8.2 and later, QAPI {@code MigrationChannel}): a {@code main}
 * channel and, for cpr-transfer, a {@code cpr} one, each a {@code MigrationAddress} object instead of a URI —
 * {@code {"transport": "socket", "type": "inet"|"unix", ...}}, {@code {"transport": "exec", "args": [...]}},
 * {@code {"transport": "file", "filename": ..., "offset": N}}.
 */
public record MigrationChannels(MigrationUri main, Optional<MigrationUri> cpr) {

    /** Reads the list, with QEMU's refusals (one entry per type, a main entry). */
    public static MigrationChannels parse(List<Json> channels) throws MigrationException {
        MigrationUri main = null;
        MigrationUri cpr = null;
        for (Json element : channels) {
            Json.Obj channel = object(element, "channels element");
            String type = string(channel, "channel-type");
            MigrationUri addr = address(object(channel.get("addr").orElseThrow(
                    () -> new MigrationException("Parameter 'addr' is missing")), "addr"));
            switch (type) {
                case "main" -> {
                    if (main != null) {
                        throw new MigrationException("Channel list has more than one main entry");
                    }
                    main = addr;
                }
                case "cpr" -> {
                    if (cpr != null) {
                        throw new MigrationException("Channel list has more than one cpr entry");
                    }
                    cpr = addr;
                }
                default -> throw new MigrationException("Parameter 'channel-type' does not accept value '" + type + "'");
            }
        }
        if (main == null) {
            throw new MigrationException("Channel list has no main entry");
        }
        return new MigrationChannels(main, Optional.ofNullable(cpr));
    }

    /** One {@code MigrationAddress} as the URI it stands for. */
    public static MigrationUri address(Json.Obj addr) throws MigrationException {
        try {
            return addressOf(addr);
        } catch (IllegalArgumentException e) { // a member of the wrong JSON type
            throw new MigrationException("migration address " + addr + ": " + e.getMessage());
        }
    }

    private static MigrationUri addressOf(Json.Obj addr) throws MigrationException {
        String transport = string(addr, "transport");
        return switch (transport) {
            case "socket" -> {
                String type = string(addr, "type");
                yield switch (type) {
                    case "unix" -> new MigrationUri.Unix(Path.of(string(addr, "path")));
                    case "inet" -> {
                        String port = string(addr, "port");
                        try {
                            yield MigrationUri.parse("tcp:" + hostPart(string(addr, "host")) + ":" + port);
                        } catch (MigrationException e) {
                            throw new MigrationException("socket address inet " + addr + ": " + e.getMessage());
                        }
                    }
                    default -> throw new MigrationException("socket address type " + type + " is not supported by livemig (inet and unix are)");
                };
            }
            case "exec" -> {
                List<Json> args = addr.get("args").orElseThrow(() -> new MigrationException("Parameter 'args' is missing")).asArray();
                if (args.isEmpty()) {
                    throw new MigrationException("exec address without args");
                }
                var command = new StringBuilder();
                for (Json a : args) { // QEMU runs the argument vector itself; livemig's exec goes through /bin/sh
                    command.append(command.isEmpty() ? "" : " ").append(shellQuoted(a.asString()));
                }
                yield new MigrationUri.Exec(command.toString());
            }
            case "file" -> new MigrationUri.File(Path.of(string(addr, "filename")),
                    addr.get("offset").map(Json::asLong).orElse(0L));
            case "rdma" -> throw new MigrationException("transport rdma is not supported by livemig");
            default -> throw new MigrationException("Parameter 'transport' does not accept value '" + transport + "'");
        };
    }

    private static String hostPart(String host) {
        return host.contains(":") ? "[" + host + "]" : host;
    }

    private static String shellQuoted(String arg) {
        return "'" + arg.replace("'", "'\\''") + "'";
    }

    private static Json.Obj object(Json value, String what) throws MigrationException {
        if (!(value instanceof Json.Obj o)) {
            throw new MigrationException("Invalid parameter type for '" + what + "', expected: object");
        }
        return o;
    }

    private static String string(Json.Obj o, String name) throws MigrationException {
        Json v = o.get(name).orElseThrow(() -> new MigrationException("Parameter '" + name + "' is missing"));
        if (!(v instanceof Json.Str(String s))) {
            throw new MigrationException("Invalid parameter type for '" + name + "', expected: string");
        }
        return s;
    }
}
