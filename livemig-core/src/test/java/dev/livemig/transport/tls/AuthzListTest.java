package dev.livemig.transport.tls;

import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.livemig.transport.tls.AuthzSimpleTest.props;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * authz-list: the first rule that matches decides, else the list's policy; properties are read as QMP object-add
 * reads them. The cases of QEMU's tests/unit/test-authz-list.c, and the wildcards of test-crypto-tlssession.c.
 */
class AuthzListTest {

    @Test
    void withoutRulesTheDefaultPolicyIsDeny() throws Exception {
        assertFalse(AuthzList.create("auth0", props("{}")).isAllowed("fred"));
        assertFalse(AuthzList.create("auth0", props("{'policy': 'deny'}")).isAllowed("fred"));
    }

    @Test
    void withoutRulesAnAllowPolicyAllowsEveryone() throws Exception {
        assertTrue(AuthzList.create("auth0", props("{'policy': 'allow'}")).isAllowed("fred"));
    }

    @Test
    void anExplicitDenyRuleOverridesAnAllowPolicy() throws Exception {
        var authz = AuthzList.create("auth0", props("""
                {'policy': 'allow', 'rules': [{'match': 'fred', 'policy': 'deny', 'format': 'exact'}]}"""));
        assertFalse(authz.isAllowed("fred"));
        assertTrue(authz.isAllowed("bob"));
    }

    @Test
    void anExplicitAllowRuleOverridesADenyPolicy() throws Exception {
        var authz = AuthzList.create("auth0", props("""
                {'policy': 'deny', 'rules': [{'match': 'fred', 'policy': 'allow', 'format': 'exact'}]}"""));
        assertTrue(authz.isAllowed("fred"));
        assertFalse(authz.isAllowed("bob"));
    }

    @Test
    void theFirstMatchingRuleDecidesSoAnExactDenyShadowsALaterGlobAllow() throws Exception {
        var authz = AuthzList.create("auth0", props("""
                {'policy': 'deny', 'rules': [
                  {'match': 'fred', 'policy': 'allow', 'format': 'exact'},
                  {'match': 'bob', 'policy': 'allow', 'format': 'exact'},
                  {'match': 'dan', 'policy': 'deny', 'format': 'exact'},
                  {'match': 'dan*', 'policy': 'allow', 'format': 'glob'}]}"""));
        assertTrue(authz.isAllowed("fred"));
        assertTrue(authz.isAllowed("bob"));
        assertFalse(authz.isAllowed("dan"));
        assertTrue(authz.isAllowed("danb"));
        assertFalse(authz.isAllowed("alice"));
    }

    @Test
    void aRuleWithoutFormatMatchesExactlySoItsStarIsLiteral() throws Exception {
        var authz = AuthzList.create("auth0", props("{'rules': [{'match': 'dan*', 'policy': 'allow'}]}"));
        assertEquals(AuthzList.Format.EXACT, authz.rules().getFirst().format());
        assertFalse(authz.isAllowed("danb"));
        assertTrue(authz.isAllowed("dan*"));
    }

    @Test
    void aGlobRuleAllowsEveryClientOfTheDomain() throws Exception {
        var authz = AuthzList.create("auth0", props("""
                {'rules': [{'match': 'C=GB,O=Example Org,CN=*.example.com', 'policy': 'allow', 'format': 'glob'}]}"""));
        assertTrue(authz.isAllowed("C=GB,O=Example Org,CN=laptop.example.com"));
        assertTrue(authz.isAllowed("C=GB,O=Example Org,CN=build.eu.example.com"));
        assertFalse(authz.isAllowed("C=GB,O=Example Org,CN=example.com"));
        assertFalse(authz.isAllowed("C=GB,O=Other Org,CN=laptop.example.com"));
    }

    @Test
    void theWildcardListsOfQemusTlsSessionTestsDecideForItsClientAsThere() throws Exception {
        String client = "C=UK,CN=qemu"; // the DN of test-crypto-tlssession's client certificate
        assertFalse(globAllowList("C=UK,CN=dogfood").isAllowed(client));
        assertTrue(globAllowList("C=UK,CN=qemu").isAllowed(client));
        assertTrue(globAllowList("C=UK,CN=dogfood", "C=UK,CN=qemu").isAllowed(client));
        assertFalse(globAllowList("C=UK,CN=qemustuff").isAllowed(client));
        assertTrue(globAllowList("C=UK,CN=qemu*").isAllowed(client));
        assertTrue(globAllowList("C=UK,CN=*emu*").isAllowed(client));
    }

    @Test
    void itKeepsItsRulesInOrderAndNamesItsType() throws Exception {
        var authz = AuthzList.create("acl0", props("""
                {'rules': [{'match': 'a', 'policy': 'allow', 'format': 'glob'}, {'match': 'b', 'policy': 'deny'}]}"""));
        assertEquals("acl0", authz.id());
        assertEquals("authz-list", authz.qomType());
        assertEquals(AuthzList.Policy.DENY, authz.policy());
        assertEquals(List.of(new AuthzList.Rule("a", AuthzList.Policy.ALLOW, AuthzList.Format.GLOB),
                new AuthzList.Rule("b", AuthzList.Policy.DENY, AuthzList.Format.EXACT)), authz.rules());
    }

    @Test
    void aBadPolicyIsRefusedWithQemusTexts() {
        assertRefused("Parameter 'policy' does not accept value 'maybe'", "{'policy': 'maybe'}");
        assertRefused("Parameter 'policy' does not accept value 'Allow'", "{'policy': 'Allow'}");
        assertRefused("Invalid parameter type for 'policy', expected: string", "{'policy': true}");
    }

    @Test
    void rulesMustBeAnArrayOfObjects() {
        assertRefused("Invalid parameter type for 'rules', expected: array", "{'rules': {'match': 'x'}}");
        assertRefused("Invalid parameter type for 'rules[1]', expected: object",
                "{'rules': [{'match': 'x', 'policy': 'allow'}, 'y']}");
    }

    @Test
    void aBadRuleIsNamedByItsPathExceptForEnumValuesWhichQemuNamesByMemberAlone() {
        assertRefused("Parameter 'rules[0].match' is missing", "{'rules': [{'policy': 'allow'}]}");
        assertRefused("Parameter 'rules[1].policy' is missing",
                "{'rules': [{'match': 'a', 'policy': 'allow'}, {'match': 'b'}]}");
        assertRefused("Invalid parameter type for 'rules[0].match', expected: string",
                "{'rules': [{'match': 1, 'policy': 'allow'}]}");
        assertRefused("Invalid parameter type for 'rules[0].format', expected: string",
                "{'rules': [{'match': 'a', 'policy': 'allow', 'format': []}]}");
        assertRefused("Parameter 'policy' does not accept value 'perhaps'",
                "{'rules': [{'match': 'a', 'policy': 'perhaps'}]}");
        assertRefused("Parameter 'format' does not accept value 'regex'",
                "{'rules': [{'match': 'a', 'policy': 'allow', 'format': 'regex'}]}");
        assertRefused("Parameter 'rules[0].comment' is unexpected",
                "{'rules': [{'match': 'a', 'policy': 'allow', 'comment': 'hi'}]}");
    }

    @Test
    void membersAreCheckedBeforeUnexpectedOnesAsQemusVisitorDoes() {
        assertRefused("Parameter 'identity' is unexpected", "{'policy': 'allow', 'identity': 'x'}");
        assertRefused("Parameter 'policy' does not accept value 'no'", "{'identity': 'x', 'policy': 'no'}");
        assertRefused("Parameter 'rules[0].match' is missing", "{'extra': 1, 'rules': [{}]}");
    }

    private static AuthzList globAllowList(String... wildcards) {
        var rules = new java.util.ArrayList<AuthzList.Rule>();
        for (String w : wildcards) {
            rules.add(new AuthzList.Rule(w, AuthzList.Policy.ALLOW, AuthzList.Format.GLOB));
        }
        return new AuthzList("tlssessionacl", AuthzList.Policy.DENY, rules);
    }

    private static void assertRefused(String message, String props) {
        var e = assertThrows(UserObjectException.class, () -> AuthzList.create("auth0", props(props)));
        assertEquals(message, e.getMessage());
    }
}
