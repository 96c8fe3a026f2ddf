package dev.livemig.transport.tls;

import dev.livemig.json.Json;

import java.util.Objects;
import java.util.Set;

/** QEMU's authz-simple: allows the one identity it was given, compared exactly. Immutable. */
public record AuthzSimple(String id, String identity) implements TlsAuthz {

    public AuthzSimple {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(identity, "identity");
    }

    /**
     * An authz-simple from the properties of object-add (without qom-type and id). Its one property, {@code identity},
     * is required by QEMU's schema, so a missing one is "Parameter 'identity' is missing" (QEMU's own "The 'identity'
     * property must be set" is only reached by objects made inside QEMU).
     */
    public static AuthzSimple create(String id, Json.Obj props) throws UserObjectException {
        var in = QapiProperties.of(props);
        String identity = in.requiredString("identity");
        in.noOtherMembers(Set.of("identity"));
        return new AuthzSimple(id, identity);
    }

    @Override
    public boolean isAllowed(String identity) {
        return this.identity.equals(identity);
    }

    @Override
    public String qomType() {
        return "authz-simple";
    }
}
