package dev.livemig.transport.tls;

import dev.livemig.json.Json;
import dev.livemig.json.JsonParser;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** authz-simple allows its one identity, exactly; its property is checked with QEMU's texts. */
class AuthzSimpleTest {

    @Test
    void onlyTheExactIdentityIsAllowed() throws Exception {
        // QEMU's tests/unit/test-authz-simple.c
        AuthzSimple authz = AuthzSimple.create("authz0", props("{'identity': 'cthulu'}"));
        assertFalse(authz.isAllowed("cthul"));
        assertTrue(authz.isAllowed("cthulu"));
        assertFalse(authz.isAllowed("cthuluu"));
        assertFalse(authz.isAllowed("fred"));
    }

    @Test
    void aDistinguishedNameWithWildcardCharactersIsNoPattern() throws Exception {
        AuthzSimple authz = AuthzSimple.create("auth0", props("{'identity': 'C=UK,CN=qemu*'}"));
        assertFalse(authz.isAllowed("C=UK,CN=qemu"));
        assertTrue(authz.isAllowed("C=UK,CN=qemu*"));
    }

    @Test
    void itKeepsItsIdAndNamesItsType() throws Exception {
        AuthzSimple authz = AuthzSimple.create("auth0", props("{'identity': 'x'}"));
        assertEquals("auth0", authz.id());
        assertEquals("authz-simple", authz.qomType());
        assertEquals("x", authz.identity());
    }

    @Test
    void aMissingIdentityIsRefusedAsQmpRefusesIt() {
        assertRefused("Parameter 'identity' is missing", "{}");
    }

    @Test
    void anIdentityThatIsNoStringIsRefused() {
        assertRefused("Invalid parameter type for 'identity', expected: string", "{'identity': 5}");
        assertRefused("Invalid parameter type for 'identity', expected: string", "{'identity': null}");
    }

    @Test
    void anUnknownPropertyIsUnexpectedButOnlyAfterTheKnownOnesAreChecked() {
        assertRefused("Parameter 'policy' is unexpected", "{'identity': 'x', 'policy': 'allow'}");
        assertRefused("Invalid parameter type for 'identity', expected: string", "{'foo': 1, 'identity': true}");
    }

    private static void assertRefused(String message, String props) {
        var e = assertThrows(UserObjectException.class, () -> AuthzSimple.create("auth0", props(props)));
        assertEquals(message, e.getMessage());
    }

    static Json.Obj props(String json) {
        try {
            return JsonParser.parse(json, JsonParser.Syntax.QMP).asObject();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }
}
