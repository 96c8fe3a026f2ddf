package dev.livemig.transport.tls;

import dev.livemig.json.Json;
import dev.livemig.wire.MigrationException;

import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;

/**
 * The members of one JSON object read as QEMU's QObject input visitor reads a QAPI struct (the properties object-add
 * gives a user-creatable object, an authz-list rule), failing with its texts: "Invalid parameter type for 'X',
 * expected: string", "Parameter 'X' does not accept value 'V'", "Parameter 'X' is missing", "Parameter 'X' is
 * unexpected". The visitor checks members one by one in the schema's order, each when it is read, and the unexpected
 * ones last: callers read in that order and end with {@link #noOtherMembers}.
 *
 * <p>A member's name in those texts is its path from the top ("rules[0].match"); an enum's bad value names the member
 * alone, as QEMU's visit_type_enum does. Names and values the user gave are escaped where they enter a message.
 */
final class QapiProperties {
    private final Json.Obj object;
    private final String at;

    private QapiProperties(Json.Obj object, String at) {
        this.object = object;
        this.at = at;
    }

    /** The top-level object (object-add's properties without qom-type and id). */
    static QapiProperties of(Json.Obj object) {
        return new QapiProperties(object, "");
    }

    /** A list element that must be an object; {@code at} is its full name ("rules[0]"). */
    static QapiProperties element(Json value, String at) throws UserObjectException {
        if (value instanceof Json.Obj o) {
            return new QapiProperties(o, at);
        }
        throw new UserObjectException("Invalid parameter type for '" + at + "', expected: object");
    }

    /** The full name of {@code member} of this object, as the texts give it. */
    String fullName(String member) {
        return at.isEmpty() ? member : at + "." + member;
    }

    String requiredString(String name) throws UserObjectException {
        return optionalString(name).orElseThrow(() -> missing(name));
    }

    Optional<String> optionalString(String name) throws UserObjectException {
        return typed(name, Json.Str.class, "string").map(Json::asString);
    }

    Optional<Boolean> optionalBool(String name) throws UserObjectException {
        return typed(name, Json.Bool.class, "boolean").map(v -> ((Json.Bool) v).value());
    }

    List<Json> requiredArray(String name) throws UserObjectException {
        return optionalArray(name).orElseThrow(() -> missing(name));
    }

    Optional<List<Json>> optionalArray(String name) throws UserObjectException {
        return typed(name, Json.Arr.class, "array").map(Json::asArray);
    }

    <E> E requiredEnum(String name, Function<String, Optional<E>> byName) throws UserObjectException {
        return optionalEnum(name, byName).orElseThrow(() -> missing(name));
    }

    /** A string member that must be one of an enum's names, checked when it is read. */
    <E> Optional<E> optionalEnum(String name, Function<String, Optional<E>> byName) throws UserObjectException {
        Optional<String> text = optionalString(name);
        if (text.isEmpty()) {
            return Optional.empty();
        }
        return Optional.of(enumValue(name, text.get(), byName));
    }

    /** The enum value {@code text} names, or QEMU's refusal naming {@code member}. */
    private static <E> E enumValue(String member, String text, Function<String, Optional<E>> byName)
            throws UserObjectException {
        return byName.apply(text).orElseThrow(() -> new UserObjectException("Parameter '" + member
                + "' does not accept value '" + MigrationException.printable(text) + "'"));
    }

    /** QEMU's check after a struct's members: the first member not among {@code known} is unexpected. */
    void noOtherMembers(Collection<String> known) throws UserObjectException {
        for (Json.Member m : object.members()) {
            if (!known.contains(m.name())) {
                throw new UserObjectException("Parameter '" + MigrationException.printable(fullName(m.name()))
                        + "' is unexpected");
            }
        }
    }

    private Optional<Json> typed(String name, Class<? extends Json> type, String expected) throws UserObjectException {
        Optional<Json> value = object.get(name);
        if (value.isPresent() && !type.isInstance(value.get())) {
            throw new UserObjectException("Invalid parameter type for '" + fullName(name) + "', expected: " + expected);
        }
        return value;
    }

    private UserObjectException missing(String name) {
        return new UserObjectException("Parameter '" + fullName(name) + "' is missing");
    }
}
