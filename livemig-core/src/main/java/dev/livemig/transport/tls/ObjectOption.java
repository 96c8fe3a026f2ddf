package dev.livemig.transport.tls;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParseException;
import dev.livemig.json.JsonParser;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * QEMU's {@code -object} option text: either a JSON object ({@code {"qom-type":"authz-list","id":…,"rules":[…]}})
 * or key=value pairs separated by commas, where a first item without '=' is the qom-type and ",," stands for a
 * comma in a value ({@code tls-creds-x509,id=tls0,dir=/etc/pki/qemu,endpoint=server}).
 *
 * @param qomType    the object's type
 * @param id         its id
 * @param properties the rest, typed as object-add would carry them
 */
public record ObjectOption(String qomType, String id, Json.Obj properties) {
    /** Properties that are booleans in QEMU's types: in key=value form their text (on, off, yes…) becomes one. */
    private static final Set<String> BOOLEANS = Set.of("verify-peer", "sanity-check", "loaded", "refresh");

    /** Parses one option text; a malformed one is refused with what is wrong. */
    public static ObjectOption parse(String text) throws UserObjectException {
        Json.Obj all = text.startsWith("{") ? json(text) : keyValues(text);
        String type = all.get("qom-type").map(ObjectOption::string).orElse(null);
        String id = all.get("id").map(ObjectOption::string).orElse(null);
        if (type == null) {
            throw new UserObjectException("Parameter 'qom-type' is missing");
        }
        if (id == null) {
            throw new UserObjectException("Parameter 'id' is missing");
        }
        var props = new ArrayList<Json.Member>();
        for (Json.Member m : all.members()) {
            if (!m.name().equals("qom-type") && !m.name().equals("id")) {
                props.add(m);
            }
        }
        return new ObjectOption(type, id, new Json.Obj(props));
    }

    /** Creates the object in {@code objects}. */
    public UserObject addTo(UserObjects objects) throws UserObjectException {
        return objects.add(qomType, id, properties);
    }

    private static String string(Json value) {
        return value instanceof Json.Str(String s) ? s : null;
    }

    private static Json.Obj json(String text) throws UserObjectException {
        try {
            if (JsonParser.parse(text) instanceof Json.Obj o) {
                return o;
            }
        } catch (JsonParseException e) {
            throw new UserObjectException("-object: " + e.getMessage(), e);
        }
        throw new UserObjectException("-object: a JSON object expected: " + text);
    }

    private static Json.Obj keyValues(String text) throws UserObjectException {
        List<Json.Member> members = new ArrayList<>();
        List<String> items = split(text);
        for (int i = 0; i < items.size(); i++) {
            String item = items.get(i);
            int eq = item.indexOf('=');
            if (eq < 0 && i == 0) {
                members.add(new Json.Member("qom-type", new Json.Str(item)));
                continue;
            }
            if (eq <= 0) {
                throw new UserObjectException("Expected '=' after parameter '" + item + "'");
            }
            String key = item.substring(0, eq);
            String value = item.substring(eq + 1);
            members.add(new Json.Member(key, BOOLEANS.contains(key) ? bool(key, value) : new Json.Str(value)));
        }
        return new Json.Obj(members);
    }

    /** Splits at single commas; ",," is a comma inside an item. */
    private static List<String> split(String text) {
        List<String> items = new ArrayList<>();
        var item = new StringBuilder();
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == ',' && i + 1 < text.length() && text.charAt(i + 1) == ',') {
                item.append(',');
                i++;
            } else if (c == ',') {
                items.add(item.toString());
                item.setLength(0);
            } else {
                item.append(c);
            }
        }
        items.add(item.toString());
        return items;
    }

    /** QEMU's keyval booleans. */
    private static Json bool(String key, String value) throws UserObjectException {
        return switch (value) {
            case "on", "yes", "true", "y" -> new Json.Bool(true);
            case "off", "no", "false", "n" -> new Json.Bool(false);
            default -> throw new UserObjectException("Parameter '" + key + "' expects 'on' or 'off'");
        };
    }
}
