package dev.livemig.transport.tls;

import dev.livemig.json.Json;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

/**
 * QEMU's authz-list: rules tried in order, the first whose {@code match} fits the identity deciding by its policy;
 * when none fits, the list's own policy (deny unless given). A rule matches exactly, or in glob format with QEMU's
 * {@code *} and {@code ?} wildcards ({@link GlobPattern}). Immutable; safe to share between sessions.
 */
public record AuthzList(String id, Policy policy, List<Rule> rules) implements TlsAuthz {

    public AuthzList {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(policy, "policy");
        rules = List.copyOf(rules);
    }

    /** QAPI's QAuthZListPolicy. */
    public enum Policy {
        DENY, ALLOW;

        /** The value of this name in QMP ("deny", "allow"). */
        static Optional<Policy> byName(String name) {
            return name.equals("deny") ? Optional.of(DENY) : name.equals("allow") ? Optional.of(ALLOW) : Optional.empty();
        }
    }

    /** QAPI's QAuthZListFormat: how a rule's {@code match} is compared. */
    public enum Format {
        EXACT, GLOB;

        static Optional<Format> byName(String name) {
            return name.equals("exact") ? Optional.of(EXACT) : name.equals("glob") ? Optional.of(GLOB) : Optional.empty();
        }
    }

    /** QAPI's QAuthZListRule. */
    public record Rule(String match, Policy policy, Format format) {
        public Rule {
            Objects.requireNonNull(match, "match");
            Objects.requireNonNull(policy, "policy");
            Objects.requireNonNull(format, "format");
        }

        /** Whether this rule applies to {@code identity}. */
        public boolean matches(String identity) {
            return switch (format) {
                case EXACT -> match.equals(identity);
                case GLOB -> GlobPattern.matches(match, identity);
            };
        }
    }

    /**
     * An authz-list from the properties of object-add (without qom-type and id): {@code policy} and {@code rules},
     * checked in QEMU's order with its input visitor's texts ("Parameter 'rules[0].match' is missing").
     */
    public static AuthzList create(String id, Json.Obj props) throws UserObjectException {
        var in = new QapiInput(props, "");
        Policy policy = in.optionalEnum("policy", Policy::byName).orElse(Policy.DENY);
        Optional<List<Json>> given = in.optionalArray("rules");
        List<Rule> rules = given.isPresent() ? rules(in, given.get()) : List.of();
        in.noOtherMembers(Set.of("policy", "rules"));
        return new AuthzList(id, policy, rules);
    }

    /**
     * An authz-list from the JSON object of an authz-listfile, which QEMU sets property by property in the order of
     * its members: a member that is no property of authz-list is "not found" rather than "unexpected".
     */
    static AuthzList fromFile(String id, Json.Obj props) throws UserObjectException {
        var in = new QapiInput(props, "");
        Policy policy = Policy.DENY;
        List<Rule> rules = List.of();
        for (Json.Member m : props.members()) {
            switch (m.name()) {
                case "policy" -> policy = in.requiredEnum("policy", Policy::byName);
                case "rules" -> rules = rules(in, in.requiredArray("rules"));
                case "type" -> throw new UserObjectException("Property 'authz-list.type' is not writable");
                default -> throw new UserObjectException("Property 'authz-list." + m.name() + "' not found");
            }
        }
        return new AuthzList(id, policy, rules);
    }

    private static List<Rule> rules(QapiInput in, List<Json> elements) throws UserObjectException {
        var rules = new ArrayList<Rule>(elements.size());
        for (int i = 0; i < elements.size(); i++) {
            var rule = QapiInput.element(elements.get(i), in.fullName("rules") + "[" + i + "]");
            String match = rule.requiredString("match");
            Policy policy = rule.requiredEnum("policy", Policy::byName);
            Format format = rule.optionalEnum("format", Format::byName).orElse(Format.EXACT);
            rule.noOtherMembers(Set.of("match", "policy", "format"));
            rules.add(new Rule(match, policy, format));
        }
        return rules;
    }

    @Override
    public boolean isAllowed(String identity) {
        for (Rule r : rules) {
            if (r.matches(identity)) {
                return r.policy() == Policy.ALLOW;
            }
        }
        return policy == Policy.ALLOW;
    }

    @Override
    public String qomType() {
        return "authz-list";
    }

    /**
     * The members of one JSON object read as QEMU's QObject input visitor reads a QAPI struct, failing with its
     * texts. A member's full name in those texts is the path from the top ("rules[0].match"); an enum's bad value
     * names the member alone, as QEMU's visit_type_enum does.
     */
    static final class QapiInput {
        private final Json.Obj object;
        private final String at;

        /** The object whose full name is {@code at} ("" for the top). */
        QapiInput(Json.Obj object, String at) {
            this.object = object;
            this.at = at;
        }

        /** A list element that must be an object; {@code at} is its full name. */
        static QapiInput element(Json value, String at) throws UserObjectException {
            if (value instanceof Json.Obj o) {
                return new QapiInput(o, at);
            }
            throw new UserObjectException("Invalid parameter type for '" + at + "', expected: object");
        }

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

        <E> Optional<E> optionalEnum(String name, Function<String, Optional<E>> byName) throws UserObjectException {
            Optional<String> text = optionalString(name);
            if (text.isEmpty()) {
                return Optional.empty();
            }
            return Optional.of(byName.apply(text.get()).orElseThrow(() ->
                    new UserObjectException("Parameter '" + name + "' does not accept value '" + text.get() + "'")));
        }

        /** QEMU's check after a struct's members: the first member not among {@code known} is unexpected. */
        void noOtherMembers(Set<String> known) throws UserObjectException {
            for (Json.Member m : object.members()) {
                if (!known.contains(m.name())) {
                    throw new UserObjectException("Parameter '" + fullName(m.name()) + "' is unexpected");
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
}
