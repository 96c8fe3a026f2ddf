package dev.livemig.transport.tls;

import dev.livemig.json.Json;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

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
        var in = QapiProperties.of(props);
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
        var in = QapiProperties.of(props);
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

    private static List<Rule> rules(QapiProperties in, List<Json> elements) throws UserObjectException {
        var rules = new ArrayList<Rule>(elements.size());
        for (int i = 0; i < elements.size(); i++) {
            var rule = QapiProperties.element(elements.get(i), in.fullName("rules") + "[" + i + "]");
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
}
