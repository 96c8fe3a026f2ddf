package dev.livemig.cli;

import dev.livemig.json.Json;
import dev.livemig.migration.MigrationParameter;
import dev.livemig.wire.MigrationException;
import picocli.CommandLine;

import java.util.Map;
import java.util.regex.Pattern;

/**
 * The arguments of {@code migrate-set-parameters} from NAME and VALUE as typed on the command line, each value
 * given the JSON type QEMU 7.2's schema gives the parameter: an integer for limits, levels, channels and sizes
 * (sizes may say K, M, G or T, as in HMP), a boolean for on/off (also yes/no, true/false), a string for
 * tls-* and multifd-compression. A value that does not fit its type is sent as a string, so that the server
 * (livemig's or QEMU's) refuses it in its own words ("Invalid parameter type for 'NAME', expected: integer").
 * A name livemig does not know, perhaps a newer QEMU's, is typed by its look: digits, on/off, else a string.
 */
final class ParameterArguments {
    private static final Pattern INTEGER = Pattern.compile("-?[0-9]+");

    private ParameterArguments() {
    }

    static Json.Obj of(Map<String, String> parameters) {
        var args = Json.object();
        parameters.forEach((name, value) -> args.put(name, typed(name, value)));
        return args.build();
    }

    static Json typed(String name, String value) {
        MigrationParameter p;
        try {
            p = MigrationParameter.byName(name);
        } catch (MigrationException unknown) {
            return byLook(value);
        }
        return switch (p.type()) {
            case INT -> INTEGER.matcher(value).matches() ? new Json.Num(value) : Json.of(value);
            case SIZE -> size(value);
            case BOOL -> bool(p, value);
            case STRING, ENUM -> Json.of(value);
        };
    }

    private static Json size(String value) {
        if (INTEGER.matcher(value).matches()) {
            return new Json.Num(value); // as typed: a negative size must reach the server's range check
        }
        try {
            return Json.of(Sizes.parse(value));
        } catch (CommandLine.TypeConversionException e) {
            return Json.of(value);
        }
    }

    private static Json bool(MigrationParameter p, String value) {
        try {
            return Json.of(p.booleanValue(value));
        } catch (MigrationException e) {
            return Json.of(value);
        }
    }

    private static Json byLook(String value) {
        if (INTEGER.matcher(value).matches()) {
            return new Json.Num(value);
        }
        return switch (value) {
            case "on", "true" -> Json.of(true);
            case "off", "false" -> Json.of(false);
            default -> Json.of(value);
        };
    }
}
